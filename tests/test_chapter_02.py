"""Smoke run of chapter 2 (adapter internals) with the smallest parameters."""

from __future__ import annotations

import re

import pytest


def _text(nb) -> str:
    return "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


@pytest.mark.slow
def test_chapter_02_smoke(run_chapter, repo_root, tmp_path):
    nb = run_chapter(
        "02_adapter_internals",
        prepare_steps=2,
        meta_steps=2,
        subset=8,
        batch_size=4,
        max_seconds=1.0,
        cache_dir=str(tmp_path / "speech"),
    )
    text = _text(nb)
    gaps = re.findall(r"(\w+)\s+max \|wrapped - base\| at init: (\S+)", text)
    assert {kind for kind, _ in gaps} == {"simadapter", "metaadapter", "none"}
    assert all(float(gap) == 0.0 for _, gap in gaps)
    assert "over 2 outer steps" in text and "stage 2 (fusion)" in text
    for what in (
        "parameters",
        "simadapter-attention",
        "attention-selection",
        "meta-curve",
    ):
        assert (repo_root / "figures" / f"02-{what}.png").is_file()
    shown = ("image/png", "application/vnd.jupyter.widget-view+json")
    images = [  # figures, and the attention explorer (a live widget outside the book)
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if any(kind in out.get("data", {}) for kind in shown)
    ]
    assert len(images) >= 4
