"""Chapter 6's report: the run plan (what is stored where), the tau curve, our rows
beside the paper's Table 5, and the prose computed from the differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcl_core import ablation_report as R
from mlcl_core.ablations import ablation_configs, difference_table, tau_configs
from mlcl_core.config import make_config
from mlcl_core.results import run_id, run_path
from mlcl_core.systems import system_config

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


def _record(rid: str, seed: int, right: dict[str, int], n: int = 40) -> dict:
    """A stored-run stand-in: ``right[lang]`` of ``n`` test sentences correct."""
    preds = [
        {"id": f"s{i}", "lang": lang, "y": 1, "y_hat": int(i < right[lang])}
        for lang in LANGS
        for i in range(n)
    ]
    acc = {lang: right[lang] / n for lang in LANGS}
    return {
        "run_id": rid,
        "seed": seed,
        "predictions": preds,
        "accuracy": acc,
        "timings": {"total": 10.0 + seed},
    }


FULL = [
    _record("full0", 0, dict.fromkeys(LANGS, 20)),
    _record("full1", 1, dict.fromkeys(LANGS, 21)),
]
SAME = [
    _record("same0", 0, dict.fromkeys(LANGS, 20)),
    _record("same1", 1, dict.fromkeys(LANGS, 22)),
]
WORSE = [
    _record("bad0", 0, dict.fromkeys(LANGS, 2)),
    _record("bad1", 1, dict.fromkeys(LANGS, 3)),
]


def test_run_plan_finds_own_other_and_missing_runs(tmp_path):
    cfg = make_config("tiny", languages=LANGS)
    rows = ablation_configs(cfg)[:3]
    ids = [run_id(r.system, system_config(r.system, r.config, 0), 0) for r in rows]
    for exp, rid in (("t5", ids[0]), ("sib200-table4", ids[1])):
        path = run_path(tmp_path, exp, rid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"run_id": rid}))
    plan = R.run_plan(rows, [0], tmp_path, "t5")
    assert list(plan["run_id"]) == ids
    assert list(plan["stored_in"]) == ["t5", "sib200-table4", ""]
    line = R.plan_line(plan, "t5")
    assert line.startswith("3 runs: 1 to train, 1 already in t5; 1 reused")
    assert "MLCL w/o LCL (seeds 0) from sib200-table4" in line
    assert "none reused" in R.plan_line(plan.iloc[[0, 2]], "t5")
    # nothing stored yet: everything trains
    assert set(R.run_plan(rows, [0, 1], tmp_path / "empty", "t5")["stored_in"]) == {""}


def test_tau_curve_is_sorted_by_tau_with_intervals():
    cfg = make_config("tiny", languages=LANGS)
    rows = tau_configs(cfg, [0.5, 0.07])
    curve = R.tau_curve(rows, {rows[0].name: WORSE, rows[1].name: FULL}, n_boot=50)
    assert list(curve["tau"]) == [0.07, 0.5]
    assert curve["M"].iloc[0] == pytest.approx((0.5 + 0.525) / 2)
    assert (curve["M_low"] <= curve["M"]).all() and (
        curve["M"] <= curve["M_high"]
    ).all()


def test_beside_paper_puts_table_5_next_to_matching_rows():
    from mlcl_core.ablations import ablation_summary

    summary = ablation_summary({"MLCL": FULL, "MLCL, segments alignment": SAME}, 50)
    both = R.beside_paper(summary, LANGS)
    assert both.loc["MLCL", ("paper, Table 5", "M")] == pytest.approx(0.6420)
    assert both.loc["MLCL", ("ours", "M")] == pytest.approx(summary.loc["MLCL", "M"])
    assert np.isnan(both.loc["MLCL, segments alignment", ("paper, Table 5", "G")])


def test_findings_name_rows_outside_and_inside_the_noise():
    from mlcl_core.ablations import ablation_summary

    records = {"MLCL": FULL, "MLCL w/o LCL": WORSE, "MLCL w/o MCL": SAME}
    diff = difference_table(records, "MLCL", n_boot=200)
    text = R.findings(diff, ablation_summary(records, 50), records)
    lines = text.splitlines()
    assert (
        lines[0].startswith("- Outside the noise")
        and "MLCL w/o LCL (M -0.4" in lines[0]
    )
    assert lines[1] == "- Inside the noise on both M and G: MLCL w/o MCL."
    assert "With 40 test sentences per language and 2 seed(s)" in text
    # the paper's w/o LCL effect (-0.0056) is far below what 40 sentences resolve
    assert "MLCL w/o LCL (-0.0056)" in text and "could not show here" in text
    assert "(half the median width)" in text
    # w/o LCL is 0.45 below the full model: more than any seed std (at most 0.035)
    assert "across seeds M varies by up to 0.035 (std, MLCL w/o MCL)" in text
    assert "outside the noise, MLCL w/o LCL differ(s) by more" in text
    quiet = {"MLCL": FULL, "MLCL w/o MCL": SAME}
    text = R.findings(
        difference_table(quiet, "MLCL", n_boot=200), ablation_summary(quiet, 50), quiet
    )
    assert text.startswith("- No row's M or G differs from MLCL's beyond the noise")
    with pytest.raises(ValueError, match="no row"):
        R.findings(diff.iloc[:0], ablation_summary(records, 50), records)


def test_seconds_line_counts_each_run_once():
    line = R.seconds_line({"MLCL": FULL, "again": FULL, "w/o": WORSE})
    assert line == "4 distinct runs; their stored training time sums to 42 s."


def test_tau_findings_name_the_points_outside_the_noise():
    records = {"tau 0.3": FULL, "tau 0.01": WORSE, "tau 0.5": SAME}
    diff = difference_table(records, "tau 0.3", n_boot=200)
    text = R.tau_findings(diff, "tau 0.3", 2)
    assert text.startswith("- On the tau curve (2 seed(s)), against tau 0.3: outside")
    assert "tau 0.01 (M -0.4" in text and "tau 0.5" not in text
    quiet = R.tau_findings(diff.loc[["tau 0.5"]], "tau 0.3", 2)
    assert quiet.endswith("every other tau is inside the noise on M and G.")
    assert "no other point" in R.tau_findings(diff.iloc[:0], "tau 0.3", 1)


def test_collapsed_line_names_rows_that_predict_one_label():
    flat = [_record("flat0", 0, dict.fromkeys(LANGS, 0))]  # label 0 everywhere
    line = R.collapsed_line({"MLCL": FULL, "MLCL, tau = 0.01": flat})
    assert "MLCL, tau = 0.01 (1.0)" in line and "Constant classifiers" in line
    assert "MLCL (" not in line
    assert R.collapsed_line({"MLCL": FULL}) == ""
