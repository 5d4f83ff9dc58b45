"""The paper's tables from run records: summaries, formatting, published rows, prose.

:func:`summarize` gives the layout of the paper's Table 2: one row per system;
per-language accuracy, G and M as the mean over seeds, their std over seeds, and a 95 %
bootstrap interval over test sentences of the seed-averaged accuracy (all seeds'
predictions pooled, sentences resampled; so the interval reflects test-set noise and the
std training noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcl_core.corpora import language_name
from mlcl_core.metrics import bootstrap_ci, seed_summary
from mlcl_core.paper_rows import TABLE4_ROWS, TABLE5_ROWS

#: Names used in the book's tables (the paper's, with "mBERT" since that is its
#: encoder).
SYSTEM_NAMES: dict[str, str] = {
    "tfidf-linear": "TF-IDF n-gram linear",
    "tfidf-mlp": "TF-IDF n-gram MLP",
    "unique": "BERT-Unique",
    "combined": "BERT-Combined",
    "combined+fgm": "BERT+FGM",
    "combined+pgd": "BERT+PGD",
    "mlcl": "MLCL",
    "text+lcl": "mBERT-Combined + LCL (no speech)",
}


def summarize(records: Sequence[dict[str, Any]], n_boot: int = 1000) -> pd.DataFrame:
    """Table 2 layout from run records: one row per system (in first-seen order).

    Columns, for each language and for G and M: ``<col>`` (mean over seeds),
    ``<col>_std`` (std over seeds, NaN for one seed), ``<col>_low``/``<col>_high``
    (bootstrap interval of the seed-averaged value: each draw of test sentences scores
    every seed and averages, so the G interval is one of the mean per-seed G); plus
    ``n_seeds``."""
    by_system: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_system.setdefault(rec["system"], []).append(rec)
    rows = []
    for system, recs in by_system.items():
        summ = seed_summary(recs)
        preds = pd.DataFrame(
            [{**p, "run": i} for i, r in enumerate(recs) for p in r["predictions"]]
        )
        ci = bootstrap_ci(
            preds["y"],
            preds["y_hat"],
            preds["lang"],
            n_boot=n_boot,
            seed=0,
            ids=preds["id"],
            runs=preds["run"],
        )
        row: dict[str, Any] = {"system": system, "n_seeds": len(recs)}
        for lang, ms in summ["accuracy"].items():
            row.update(
                {
                    lang: ms["mean"],
                    f"{lang}_std": ms["std"],
                    f"{lang}_low": ci["accuracy"][lang]["low"],
                    f"{lang}_high": ci["accuracy"][lang]["high"],
                }
            )
        for m in ("G", "M"):
            row.update(
                {
                    m: summ[m]["mean"],
                    f"{m}_std": summ[m]["std"],
                    f"{m}_low": ci[m]["low"],
                    f"{m}_high": ci[m]["high"],
                }
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("system")


def format_table(
    summary: pd.DataFrame, languages: Sequence[str], names: dict[str, str] | None = None
) -> pd.DataFrame:
    """Human-readable Table 2: accuracy in %, ``mean ± std [low, high]``; G and M as
    fractions."""
    names = names or SYSTEM_NAMES
    out = pd.DataFrame(
        index=pd.Index([names.get(s, s) for s in summary.index], name="system")
    )
    for col, scale, digits in [
        *[(lang, 100.0, 1) for lang in languages],
        ("G", 1.0, 4),
        ("M", 1.0, 4),
    ]:
        cells = []
        for _, r in summary.iterrows():
            text = f"{r[col] * scale:.{digits}f}"
            if np.isfinite(r[f"{col}_std"]):
                text += f" ± {r[f'{col}_std'] * scale:.{digits}f}"
            cells.append(
                text + f" [{r[f'{col}_low'] * scale:.{digits}f}, "
                f"{r[f'{col}_high'] * scale:.{digits}f}]"
            )
        out[language_name(col)] = cells
    return out


# --------------------------------------------------------------------------- published
# numbers
#: Published rows to compare with: accuracy (%) for zho_Hans, bod_Tibt, mya_Mymr, then G
#: and M. SIB-200 rows use the same SIB-200 test set as our ``sib200`` runs; the MLCL
#: paper's rows use its own Flores-200 (Table 2) and mms (Table 3) splits, so they are
#: context, not a paired test.
PUBLISHED_LANGUAGES = ("zho_Hans", "bod_Tibt", "mya_Mymr")
REFERENCE_ROWS: dict[str, list[tuple[str, str, float, float, float, float, float]]] = {
    "sib200": [
        (
            "SIB-200 (Adelani et al. 2023)",
            "n-gram MLP",
            74.67,
            72.14,
            65.73,
            0.028,
            0.709,
        ),
        ("SIB-200 (Adelani et al. 2023)", "XLM-R base", 90.2, 24.8, 81.1, 0.222, 0.654),
        (
            "SIB-200 (Adelani et al. 2023)",
            "XLM-R large",
            90.1,
            25.0,
            87.2,
            0.215,
            0.674,
        ),
        (
            "SIB-200 (Adelani et al. 2023)",
            "GPT-4 zero-shot",
            79.5,
            13.6,
            62.2,
            0.283,
            0.518,
        ),
        (
            "MLCL paper, Table 2 (its Flores-200 split)",
            "mBERT-Combined",
            87.24,
            58.38,
            46.19,
            0.1427,
            0.6394,
        ),
        (
            "MLCL paper, Table 2 (its Flores-200 split)",
            "MLCL",
            84.67,
            59.21,
            48.71,
            0.1245,
            0.6420,
        ),
    ],
    "mms": [
        (
            "MLCL paper, Table 3 (mms)",
            "mBERT-Unique",
            71.91,
            42.17,
            25.54,
            0.2216,
            0.4656,
        ),
        (
            "MLCL paper, Table 3 (mms)",
            "mBERT-Combined",
            80.25,
            45.15,
            39.01,
            0.1672,
            0.5480,
        ),
        ("MLCL paper, Table 3 (mms)", "mBERT+PGD", 79.67, 44.76, 37.07, 0.1759, 0.5383),
        ("MLCL paper, Table 3 (mms)", "mBERT+FGM", 77.82, 44.23, 35.58, 0.1786, 0.5254),
        ("MLCL paper, Table 3 (mms)", "MLCL", 79.70, 48.42, 42.01, 0.1477, 0.5671),
    ],
}
REFERENCE_ROWS["flores200"] = REFERENCE_ROWS["sib200"][-2:]
REFERENCE_ROWS["table4"] = TABLE4_ROWS
REFERENCE_ROWS["table5"] = TABLE5_ROWS


def reference_table(corpus: str) -> pd.DataFrame:
    """The published rows for ``corpus`` (accuracies as fractions, like ours), labelled
    by (source, system)."""
    rows = [
        {
            "source": src,
            "system": name,
            "zho_Hans": zh / 100,
            "bod_Tibt": bo / 100,
            "mya_Mymr": my / 100,
            "G": g,
            "M": m,
        }
        for src, name, zh, bo, my, g, m in REFERENCE_ROWS.get(corpus, [])
    ]
    table = pd.DataFrame(
        rows, columns=["source", "system", "zho_Hans", "bod_Tibt", "mya_Mymr", "G", "M"]
    )
    return table.set_index(["source", "system"])


#: Published sources tested on their own split, not on our test sentences: their numbers
#: are shown as context, with no inside/outside verdict.
OWN_SPLIT_SOURCES = ("MLCL paper, Table 2 (its Flores-200 split)",)


def comparison_obstacle(
    corpus: str, languages: Sequence[str], subset: int | None = None
) -> str | None:
    """Why this run cannot be set against the published rows, or ``None`` when it can.

    A published G or M is comparable only over the same languages (G and M depend on
    the language set) and the same, whole test split (``subset`` set: fewer
    sentences, so a difference could come from the sentences alone)."""
    if reference_table(corpus).empty:
        return f"there are no published numbers for corpus {corpus!r} to compare with"
    if sorted(languages) != sorted(PUBLISHED_LANGUAGES):
        return (
            f"the published rows are for Chinese, Tibetan and Burmese "
            f"{list(PUBLISHED_LANGUAGES)}; this run has {list(languages)}, and G and M "
            "over other language sets are not comparable"
        )
    if subset is not None:
        return (
            f"this run keeps at most {subset} sentences per split, the published rows "
            "use the whole test split, so a difference could come from the sentences "
            "alone"
        )
    return None


def _inside(value: float, low: float, high: float) -> str:
    return "inside" if low <= value <= high else "outside"


def comparison_prose(
    summary: pd.DataFrame,
    corpus: str,
    languages: Sequence[str],
    names: dict[str, str] | None = None,
    subset: int | None = None,
) -> str:
    """Markdown that compares our table with the published rows, every number from
    ``summary``.

    A published value counts as *inside the noise* when it lies in our 95 % bootstrap
    interval; two of our systems are indistinguishable when their intervals overlap (a
    conservative test). Published rows are only compared with when the languages and
    the test sentences match (:func:`comparison_obstacle`; ``subset``: the run's
    ``cfg.data.subset``); otherwise the prose says why there is no comparison."""
    names = names or SYSTEM_NAMES
    lines = []
    best = summary["M"].idxmax()
    lines.append(
        f"Our best mean accuracy is {names.get(best, best)}'s, "
        f"M = {summary.loc[best, 'M']:.3f} "
        f"[{summary.loc[best, 'M_low']:.3f}, {summary.loc[best, 'M_high']:.3f}], "
        f"with G = {summary.loc[best, 'G']:.3f}."
    )
    if "mlcl" in summary.index:
        m = summary.loc["mlcl"]
        for other in summary.index.drop("mlcl"):
            o = summary.loc[other]
            overlap = m["M_low"] <= o["M_high"] and o["M_low"] <= m["M_high"]
            lines.append(
                f"MLCL vs {names.get(other, other)}: M {m['M']:.3f} vs {o['M']:.3f} "
                f"({m['M'] - o['M']:+.3f}), G {m['G']:.3f} vs {o['G']:.3f} "
                f"({m['G'] - o['G']:+.3f}); the M intervals "
                + (
                    "overlap, so this difference is inside the noise."
                    if overlap
                    else "do not overlap, so this difference is outside the noise."
                )
            )
    obstacle = comparison_obstacle(corpus, languages, subset)
    if obstacle is not None:
        lines.append(f"No comparison with published numbers: {obstacle}.")
    else:
        row = summary.loc["mlcl"] if "mlcl" in summary.index else summary.loc[best]
        who = "MLCL" if "mlcl" in summary.index else names.get(best, best)
        for (source, system), ref in reference_table(corpus).iterrows():
            head = f"{source}, {system}: M {ref['M']:.3f}"
            if source in OWN_SPLIT_SOURCES:
                lines.append(
                    f"{head}, G {ref['G']:.3f} (its own test split: context, not a "
                    "paired comparison)."
                )
                continue
            lines.append(
                f"{head} "
                f"({_inside(ref['M'], row['M_low'], row['M_high'])} {who}'s M interval "
                f"[{row['M_low']:.3f}, {row['M_high']:.3f}]), G {ref['G']:.3f} "
                f"({_inside(ref['G'], row['G_low'], row['G_high'])} {who}'s G interval "
                f"[{row['G_low']:.3f}, {row['G_high']:.3f}])."
            )
    if summary["n_seeds"].min() > 1:
        worst = summary["M_std"].idxmax()
        lines.append(
            f"Across seeds, M varies by up to {summary.loc[worst, 'M_std']:.3f} (std, "
            f"{names.get(worst, worst)}), a second measure of the noise."
        )
    return "\n".join(f"- {line}" for line in lines)
