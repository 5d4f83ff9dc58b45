"""Chapter 5's data-length curves (paper Figures 3-4): nested training subsets by
number of sentences, and the hours of synthesised training speech each holds.

A size is a config override (``DataConfig.train_sentences``), so every size has its own
run id in the results store and the corpus is cut by
:meth:`~mlcl_core.corpora.Corpus.with_train_sentences` when loaded: smaller subsets are
inside larger ones, labels are spread the same way, dev and test are untouched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from mlcl_core.ablations import Ablation
from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus


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
            f"{kind}, {n} sentences",
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
