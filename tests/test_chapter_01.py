"""Chapter 1 (data synthesis) smoke run: 20 sentences per split, a fresh speech
cache."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from mlcl_core.display import BOOK_BUILD_ENV


def _stdout(nb) -> str:
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stdout"
    )


@pytest.mark.slow
def test_chapter_01_smoke(run_chapter, tmp_path, monkeypatch):
    # as the book build runs it (the kernel inherits this), so widgets show their
    # static views
    monkeypatch.setenv(BOOK_BUILD_ENV, "1")
    nb = run_chapter(
        "01_data_synthesis", subset=20, cache_dir=str(tmp_path / "speech"), workers=2
    )
    out = _stdout(nb)
    assert "sib200: 60 parallel sentences x 3 languages" in out
    assert "180 clips (180 synthesised now, 0 from the cache)" in out
    speed = float(re.search(r"with 2 workers: (\d+)x real time", out).group(1))
    assert (
        speed > 0
    )  # measured, not judged: benchmarks/synthesis_speed.py compares with 200x
    slope = float(
        re.search(r"([\d.]+) s per syllable, correlation ([\d.]+)", out).group(1)
    )
    assert 0.15 < slope < 0.4
    html = "".join(
        o.get("data", {}).get("text/html", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    # the shortest sentence and the player's (median) one in three languages; naive vs
    # bophono
    assert html.count("<audio") == 3 + 3 + 2
    assert "<th>lang</th>" in html  # the clips table labelled by (id, lang)
    for what in ("labels", "durations", "tibetan-syllables"):
        assert (ROOT / "figures" / f"01-{what}.png").stat().st_size > 5000
    assert len(list((tmp_path / "speech").rglob("*.flac"))) == 180
