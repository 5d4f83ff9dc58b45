"""Tables: the published rows and the prose built from our numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcl_core import tables


def _summary(m_mlcl: float, low: float, high: float):
    rows = []
    for system, m, lo, hi in [
        ("combined", 0.5, 0.45, 0.55),
        ("mlcl", m_mlcl, low, high),
    ]:
        rows.append(
            {
                "system": system,
                "n_seeds": 2,
                "zho_Hans": m,
                "bod_Tibt": m,
                "mya_Mymr": m,
                "G": 0.05,
                "G_low": 0.0,
                "G_high": 0.1,
                "M": m,
                "M_low": lo,
                "M_high": hi,
                "M_std": 0.01,
                "G_std": 0.01,
            }
        )
    return pd.DataFrame(rows).set_index("system")


def test_comparison_prose_is_built_from_the_numbers():
    text = tables.comparison_prose(
        _summary(0.70, 0.66, 0.74), "sib200", ("zho_Hans", "bod_Tibt", "mya_Mymr")
    )
    assert "M 0.700 vs 0.500 (+0.200)" in text and "outside the noise" in text
    assert "n-gram MLP: M 0.709 (inside MLCL's M interval [0.660, 0.740])" in text
    assert "GPT-4 zero-shot: M 0.518 (outside" in text
    close = tables.comparison_prose(
        _summary(0.52, 0.47, 0.57), "sib200", ("zho_Hans", "bod_Tibt", "mya_Mymr")
    )
    assert "overlap, so this difference is inside the noise" in close
    other = tables.comparison_prose(
        _summary(0.52, 0.47, 0.57), "sib200", ("zho_Hans", "eng_Latn")
    )
    assert "not comparable" in other
    assert tables.reference_table("mms").index[-1] == (
        "MLCL paper, Table 3 (mms)",
        "MLCL",
    )


def test_no_verdicts_against_published_rows_for_other_languages_or_a_subset():
    langs = ("zho_Hant", "yue_Hant", "mya_Mymr")
    other = tables.comparison_prose(_summary(0.70, 0.66, 0.74), "sib200", langs)
    assert "No comparison with published numbers" in other
    assert "interval [" not in other and "n-gram MLP" not in other
    paper = ("zho_Hans", "bod_Tibt", "mya_Mymr")
    part = tables.comparison_prose(
        _summary(0.70, 0.66, 0.74), "sib200", paper, subset=20
    )
    assert "No comparison with published numbers" in part and "at most 20" in part
    assert "n-gram MLP" not in part
    assert tables.comparison_obstacle("sib200", paper) is None
    assert tables.comparison_obstacle("sib200", paper[::-1]) is None  # order is free
    assert "no published numbers" in tables.comparison_obstacle("xnli", paper)


def test_rows_on_the_papers_own_split_get_no_verdict():
    paper = ("zho_Hans", "bod_Tibt", "mya_Mymr")
    text = tables.comparison_prose(_summary(0.64, 0.60, 0.70), "sib200", paper)
    line = next(x for x in text.splitlines() if "Table 2" in x and "MLCL:" in x)
    assert "context, not a paired comparison" in line and "inside" not in line


def test_summary_interval_of_g_brackets_the_mean_per_seed_g():
    # Two seeds that disagree on the weaker language: each seed's G is 0.125, the G of
    # the pooled predictions is 0. The interval must be one of the reported statistic.
    n = 120
    half = np.arange(n) % 5 < 3
    records = []
    both = [(np.ones(n, bool), half), (half, np.ones(n, bool))]
    for seed, (zh, bo) in enumerate(both):
        preds = [
            {"id": str(i), "lang": code, "y": 0, "y_hat": int(not right[i])}
            for code, right in (("zho_Hans", zh), ("bod_Tibt", bo))
            for i in range(n)
        ]
        acc = {"zho_Hans": zh.mean(), "bod_Tibt": bo.mean()}
        records.append(
            {"system": "s", "seed": seed, "accuracy": acc, "predictions": preds}
        )
    row = tables.summarize(records, n_boot=300).loc["s"]
    assert row["G"] == pytest.approx(0.125)
    assert row["G_low"] < row["G"] < row["G_high"] and row["G_low"] > 0.05
    assert row["M"] == pytest.approx(0.8) and row["M_low"] < row["M"] < row["M_high"]
