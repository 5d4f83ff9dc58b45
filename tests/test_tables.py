"""Tables: the published rows and the prose built from our numbers."""

from __future__ import annotations

import pandas as pd

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
