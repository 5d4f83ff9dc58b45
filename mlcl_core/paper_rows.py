"""The paper's published numbers for chapters 5 and 6: Tables 4 and 5, and the values
its text states for Figures 3-4 (the figures themselves are not in our copy).

Rows are ``(source, system, zh, bo, my, G, M)`` with accuracies in percent, as
:data:`mlcl_core.tables.REFERENCE_ROWS` holds them; :func:`mlcl_core.tables.
reference_table` serves them under the keys ``"table4"`` and ``"table5"``."""

from __future__ import annotations

import pandas as pd

_T4 = "MLCL paper, Table 4 (its Flores-200 split)"
_T5 = "MLCL paper, Table 5 (its Flores-200 split)"

#: Table 4: the two adapter initialisations on Flores-200.
TABLE4_ROWS = [
    (_T4, "SimAdapter", 85.01, 55.61, 46.65, 0.1366, 0.6242),
    (_T4, "MetaAdapter", 84.67, 59.21, 48.71, 0.1245, 0.6420),
]

#: Table 5: the ablations on Flores-200 (the paper has no speech-free, fusion or tau
#: rows).
TABLE5_ROWS = [
    (_T5, "MLCL", 84.67, 59.21, 48.71, 0.1245, 0.6420),
    (_T5, "MLCL w/o LCL", 85.98, 58.61, 46.33, 0.1385, 0.6364),
    (_T5, "MLCL w/o MCL", 86.44, 58.49, 46.70, 0.1383, 0.6388),
    (_T5, "MLCL w/o adapters", 69.26, 42.91, 33.17, 0.1655, 0.4845),
]

#: Figures 3-4 as the paper's text states them (synthetic mms data, hours of speech):
#: ``(hours, adapter, G, M)``, ``None`` where the text gives no value.
FIGURE34_POINTS = [
    (10, "simadapter", 0.1518, 0.5626),
    (10, "metaadapter", 0.1688, 0.5436),
    (50, "simadapter", None, 0.5691),
    (50, "metaadapter", None, 0.5690),
    (60, "simadapter", 0.1466, 0.5691),
    (60, "metaadapter", 0.1466, 0.5734),
]


def figure34_reference() -> pd.DataFrame:
    """The paper's stated Figure 3-4 points: columns hours, adapter, G, M (NaN where
    the text gives no value), labelled as the paper's by ``source``."""
    table = pd.DataFrame(FIGURE34_POINTS, columns=["hours", "adapter", "G", "M"])
    table["source"] = "MLCL paper, text on Figures 3-4 (mms, synthetic speech)"
    return table.astype({"G": float, "M": float})
