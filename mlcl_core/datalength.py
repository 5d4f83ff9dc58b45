"""Chapter 5's data-length curves (paper Figures 3-4): nested training subsets by
number of sentences, and the hours of synthesised training speech each holds.

A size is a config override (``DataConfig.train_sentences``), so every size has its own
run id in the results store and the corpus is cut by
:meth:`~mlcl_core.corpora.Corpus.with_train_sentences` when loaded: smaller subsets are
inside larger ones, labels are spread the same way, dev and test are untouched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mlcl_core.ablations import Ablation, ablation_summary, difference_table
from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus

#: How chapter 5's tables and figures name the adapter kinds.
ADAPTER_NAMES: dict[str, str] = {
    "simadapter": "SimAdapter",
    "metaadapter": "MetaAdapter",
    "none": "no adapter",
}


def row_name(kind: str, n: int) -> str:
    """The name of the curve row of adapter ``kind`` at ``n`` training sentences."""
    return f"{kind}, {n} sentences"


def check_sizes(sizes: Sequence[int], n_train: int) -> list[int]:
    """``sizes`` sorted, checked before any training: distinct, positive and at most
    ``n_train`` (the training sentences the corpus has), else ``ValueError``."""
    sizes = [int(n) for n in sizes]
    if not sizes or len(set(sizes)) != len(sizes) or min(sizes) < 1:
        raise ValueError(f"sizes must be distinct positive integers, got {sizes}")
    if max(sizes) > n_train:
        raise ValueError(
            f"sizes {sizes}: the corpus has only {n_train} training sentences"
        )
    return sorted(sizes)


def size_configs(
    cfg: ExperimentConfig, sizes: Sequence[int]
) -> dict[int, ExperimentConfig]:
    """``{n: cfg with n training sentences}`` for each size, smallest first (sizes
    positive and distinct, else ``ValueError``)."""
    if not sizes or len(set(sizes)) != len(sizes) or min(sizes) < 1:
        raise ValueError(f"sizes must be distinct positive integers, got {sizes}")
    return {
        n: replace(cfg, data=replace(cfg.data, train_sentences=int(n)))
        for n in sorted(sizes)
    }


def size_rows(
    cfg: ExperimentConfig, sizes: Sequence[int], adapter_kinds: Sequence[str]
) -> list[Ablation]:
    """MLCL rows for every adapter kind x size, named ``"<kind>, <n> sentences"``, for
    :func:`mlcl_core.ablations.run_ablations` (each has its own run id)."""
    if not adapter_kinds or len(set(adapter_kinds)) != len(adapter_kinds):
        raise ValueError(f"adapter kinds must be distinct, got {adapter_kinds}")
    return [
        Ablation(
            row_name(kind, n),
            "mlcl",
            replace(c, adapter=replace(c.adapter, kind=kind)),
        )
        for kind in adapter_kinds
        for n, c in size_configs(cfg, sizes).items()
    ]


def training_hours(
    corpus: Corpus,
    speech_table: pd.DataFrame,
    languages: Sequence[str] | None = None,
) -> float:
    """Hours of synthesised speech in ``corpus``'s training split: the summed
    ``seconds`` of the speech-table rows of its training sentences in ``languages``
    (default: the corpus's). A training sentence without a clip in a language raises
    ``ValueError`` (the hours would be silently short)."""
    languages = list(languages or corpus.languages)
    ids = corpus.split("train")["id"].astype(str)
    table = speech_table[
        (speech_table["split"] == "train")
        & speech_table["lang"].isin(languages)
        & speech_table["id"].astype(str).isin(set(ids))
    ]
    have = set(zip(table["id"].astype(str), table["lang"], strict=True))
    missing = [(i, lang) for lang in languages for i in ids if (i, lang) not in have]
    if missing:
        raise ValueError(
            f"the speech table lacks {len(missing)} training clip(s), e.g. "
            f"{missing[:3]}; synthesise them (mlcl_core.speech.corpus_audio) first"
        )
    if table.duplicated(["id", "lang"]).any():
        raise ValueError("the speech table has several clips for one (id, language)")
    return float(table["seconds"].sum()) / 3600.0


def size_table(
    corpus: Corpus,
    speech_table: pd.DataFrame,
    sizes: Sequence[int],
    languages: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per size: ``sentences`` and ``hours`` of training speech (the x axes of
    Figures 3-4)."""
    rows = [
        {
            "sentences": n,
            "hours": training_hours(
                corpus.with_train_sentences(n), speech_table, languages
            ),
        }
        for n in sorted(sizes)
    ]
    return pd.DataFrame(rows, columns=["sentences", "hours"])


def table4_rows(
    cfg: ExperimentConfig,
    sentences: int | None,
    adapter_kinds: Sequence[str],
    n_train: int,
) -> list[Ablation]:
    """Table 4: one MLCL row per adapter kind (named by :data:`ADAPTER_NAMES`) on
    ``sentences`` training sentences. ``None`` or all ``n_train`` of them is the whole
    training split with ``train_sentences`` unset, so those rows are the same runs (run
    ids) as chapter 4's MLCL; a size below is the curve's row of that size."""
    if not adapter_kinds or len(set(adapter_kinds)) != len(adapter_kinds):
        raise ValueError(f"adapter kinds must be distinct, got {adapter_kinds}")
    unknown = [k for k in adapter_kinds if k not in ADAPTER_NAMES]
    if unknown:
        raise ValueError(f"unknown adapter kind(s) {unknown}; known: {ADAPTER_NAMES}")
    if sentences is not None and not 0 < sentences <= n_train:
        raise ValueError(
            f"Table 4 on {sentences} sentences: the corpus has 1..{n_train}"
        )
    full = sentences is None or sentences == n_train
    data = replace(cfg.data, train_sentences=None if full else int(sentences))
    return [
        Ablation(
            ADAPTER_NAMES[kind],
            "mlcl",
            replace(cfg, data=data, adapter=replace(cfg.adapter, kind=kind)),
        )
        for kind in adapter_kinds
    ]


def curve_table(
    records: dict[str, list[dict[str, Any]]],
    sizes: pd.DataFrame,
    adapter_kinds: Sequence[str],
    n_boot: int = 1000,
) -> pd.DataFrame:
    """Figures 3-4's points: one row per adapter kind x size of ``sizes`` (a
    :func:`size_table`) with ``adapter``, ``sentences``, ``hours``, and G and M as
    :func:`~mlcl_core.tables.summarize` gives them (mean over seeds, ``_std`` over
    seeds, ``_low``/``_high`` the 95 % bootstrap interval over test sentences).
    ``records`` come from :func:`~mlcl_core.ablations.run_ablations` on
    :func:`size_rows`."""
    summary = ablation_summary(records, n_boot)
    stats = [f"{m}{s}" for m in ("G", "M") for s in ("", "_std", "_low", "_high")]
    rows = []
    for kind in adapter_kinds:
        for n, hours in zip(sizes["sentences"], sizes["hours"], strict=True):
            point = summary.loc[row_name(kind, int(n))]
            rows.append(
                {"adapter": kind, "sentences": int(n), "hours": float(hours)}
                | {c: float(point[c]) for c in stats}
                | {"n_seeds": int(point["n_seeds"])}
            )
    return pd.DataFrame(rows)


def size_differences(
    records: dict[str, list[dict[str, Any]]],
    sizes: Sequence[int],
    kinds: tuple[str, str] = ("simadapter", "metaadapter"),
    n_boot: int = 1000,
) -> pd.DataFrame:
    """At each size, the second kind's G and M minus the first's, with 95 % paired
    bootstrap intervals over the shared test sentences and a verdict sentence
    (:func:`~mlcl_core.ablations.difference_table`), one row per size."""
    a, b = kinds
    frames = []
    for n in sorted(sizes):
        name_a = f"{ADAPTER_NAMES[a]} ({n} sentences)"
        name_b = f"{ADAPTER_NAMES[b]} ({n} sentences)"
        pair = {name_a: records[row_name(a, n)], name_b: records[row_name(b, n)]}
        diff = difference_table(pair, name_a, n_boot)
        frames.append(diff.reset_index(drop=True).assign(sentences=n))
    return pd.concat(frames).set_index("sentences")


def growth_differences(
    records: dict[str, list[dict[str, Any]]],
    sizes: Sequence[int],
    adapter_kinds: Sequence[str],
    n_boot: int = 1000,
) -> pd.DataFrame:
    """Per adapter kind, G and M at the largest size minus at the smallest, with 95 %
    paired bootstrap intervals over the shared test sentences (every size is scored on
    the same dev and test split) and a verdict sentence, one row per kind."""
    small, large = min(sizes), max(sizes)
    if small == large:
        raise ValueError("growth_differences needs at least two sizes")
    frames = []
    for kind in adapter_kinds:
        name = ADAPTER_NAMES.get(kind, kind)
        a, b = f"{name} at {small} sentences", f"{name} at {large} sentences"
        pair = {a: records[row_name(kind, small)], b: records[row_name(kind, large)]}
        frames.append(difference_table(pair, a, n_boot).reset_index(drop=True))
    out = pd.concat(frames)
    out.index = pd.Index(list(adapter_kinds), name="adapter")
    return out


def paper_direction(
    differences: pd.DataFrame, reference: pd.DataFrame, kinds: tuple[str, str]
) -> list[str]:
    """Sentences setting the direction of ``kinds[1]`` minus ``kinds[0]`` that the
    paper's text states (``reference``: :func:`~mlcl_core.paper_rows.
    figure34_reference`) at its smallest and largest hours beside ours at our smallest
    and largest size (``differences``: :func:`size_differences`). The paper's hours are
    of another, far larger corpus, so this compares directions, not values."""
    a, b = (ADAPTER_NAMES[k] for k in kinds)
    lines = []
    ends = (("smallest", reference["hours"].min(), differences.index.min()),)
    ends += (("largest", reference["hours"].max(), differences.index.max()),)
    for end, hours, n in ends:
        at = reference[reference["hours"] == hours].set_index("adapter")
        ours = differences.loc[n]
        parts = []
        for stat in ("G", "M"):
            theirs = at.loc[kinds[1], stat] - at.loc[kinds[0], stat]
            if np.isnan(theirs):
                continue
            low, high = ours[f"{stat}_low"], ours[f"{stat}_high"]
            noise = "inside" if low <= 0 <= high else "outside"
            if theirs == 0:
                how = "the paper's are equal"
            elif np.sign(theirs) == np.sign(ours[stat]):
                how = "same direction"
            else:
                how = "not the paper's direction"
            parts.append(
                f"{stat}: paper {theirs:+.4f}, ours {ours[stat]:+.4f} "
                f"[{low:+.4f}, {high:+.4f}] ({how}; ours {noise} the noise)"
            )
        lines.append(
            f"{b} minus {a} at the {end} size (paper {hours:g} h of mms speech, ours "
            f"{n} sentences): " + "; ".join(parts) + "."
        )
    return lines


def labels_predicted(records: dict[str, list[dict[str, Any]]]) -> pd.Series:
    """Per row, the mean over seeds of how many different labels a run predicted on
    the test split (all languages): a row near 1 predicts one class for everything,
    whose accuracy is then the same in every language, so its G is near 0 for a
    trivial reason."""
    return pd.Series(
        {
            name: float(
                np.mean([len({p["y_hat"] for p in r["predictions"]}) for r in recs])
            )
            for name, recs in records.items()
        },
        name="labels predicted",
    )
