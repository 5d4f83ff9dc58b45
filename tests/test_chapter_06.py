"""Chapter 6 smoke run: Table 5's rows, their paired differences and verdicts, the tau
curve and its figures, on a SIB-200 subset; a bad parameter stops it before any run."""

from __future__ import annotations

import json
import time

import pytest
from conftest import ROOT, SMOKE_MLCL, notebook_text
from papermill.exceptions import PapermillExecutionError

ROWS = (
    "MLCL",
    "MLCL w/o LCL",
    "MLCL w/o MCL",
    "MLCL w/o adapters",
    "w/o speech (text encoder + LCL)",
    "MLCL, segments alignment",
    "MLCL, [CLS] without audio",
)


SMOKE = SMOKE_MLCL | {"train_sentences": 8, "tau_seeds": [0], "taus": [0.5]}


@pytest.mark.slow
def test_chapter_06_builds_table_5_differences_and_the_tau_curve(run_chapter, tmp_path):
    start = time.time()
    nb = run_chapter("06_ablations", results_dir=str(tmp_path), **SMOKE)
    text = notebook_text(nb)
    for row in ROWS:  # the table, and every other row's verdict against the full model
        assert row in text
        if row != "MLCL":
            assert f"{row} minus MLCL: M " in text
    assert text.count("the noise") >= 2 * (len(ROWS) - 1)
    assert "paper, Table 5" in text  # the paper's rows beside ours
    # the search ran once (1 trial, its own experiment); the rows used its weights
    (trial,) = (tmp_path / "sib200-table2-search").glob("*.json")
    assert json.loads(trial.read_text())["seed"] == 100
    assert "(from chapter 4's search (1 trials))" in text
    runs = [
        json.loads(p.read_text()) for p in (tmp_path / "sib200-table5").glob("*.json")
    ]
    assert len(runs) == len(ROWS) + 1  # + the tau curve's one extra point
    assert {r["config"]["data"]["train_sentences"] for r in runs} == {8}
    assert sorted({r["config"]["loss"]["tau"] for r in runs})[-1] == 0.5
    assert "7 runs: 7 to train, 0 already in sib200-table5" in text
    assert "MLCL, tau = 0.5 minus MLCL, tau = " in text
    assert "test sentences per language and 1 seed(s)" in text
    for what in ("differences", "tau"):
        png = ROOT / "figures" / f"06-sib200-{what}.png"
        assert png.stat().st_mtime >= start and png.stat().st_size > 5000


@pytest.mark.slow
def test_chapter_06_rejects_bad_parameters_before_any_run(run_chapter, tmp_path):
    store = tmp_path / "results"
    for bad, match in (
        ({"taus": [0.0]}, "taus must be distinct and > 0"),
        ({"tau_seeds": [5]}, "must be some of seeds"),
    ):
        with pytest.raises(PapermillExecutionError, match=match):
            run_chapter("06_ablations", results_dir=str(store), **{**SMOKE, **bad})
    assert not store.exists()  # nothing stored, nothing trained
