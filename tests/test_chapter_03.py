"""Chapter 3 (contrastive losses) runs top to bottom in smoke mode and its checks
hold."""

from __future__ import annotations

import pytest


def _stream(nb) -> str:
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


@pytest.mark.slow
def test_chapter_03_smoke(run_chapter):
    nb = run_chapter(
        "03_contrastive_losses", subset=16, num_epochs=1, batch_size=8, max_seconds=0.5
    )
    text = _stream(nb)
    assert "equal: True" in text  # the hand computation matches losses.nt_xent
    lcl = [line for line in text.splitlines() if line.startswith(("LCL", "MCL"))]
    assert len(lcl) == 2
    for line in lcl:  # code value equals the formula's
        value, formula = line.split()[1], line.split("formula ")[1].rstrip(")")
        assert value == formula
    assert "chance level: 1/16" in text and "mean test retrieval accuracy" in text
    live = [  # outside the book build the tau explorer is the live widget
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(live) == 1
