"""Parallel corpora: one table with an id, a label, a split and one text per language.

Loaders read a corpus from its own layout and check it before anything long starts:
misaligned ids, empty texts, unknown languages and unknown labels raise
:class:`CorpusError` naming the file and line.

Three layouts, one module each: SIB-200 (:mod:`.sib200`, the embedded default),
the official Flores-200 release (:mod:`.flores`) and mms-style sentiment tables
(:mod:`.mms`, with an optional translation step). :data:`LOADERS` is the one registry
by the name ``DataConfig.corpus`` uses; :func:`load_corpus` picks from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlcl_core.corpora.base import (
    LANGUAGE_NAMES,
    SPLITS,
    Corpus,
    CorpusError,
    language_name,
)
from mlcl_core.corpora.flores import (
    FLORES_METADATA_COLUMNS,
    flores_languages,
    load_flores200,
)
from mlcl_core.corpora.mms import MMS_LANGUAGE_CODES, load_mms
from mlcl_core.corpora.sib200 import (
    available_languages,
    embedded_sib200_dir,
    load_sib200,
)

if TYPE_CHECKING:  # config imports nothing from here; the hint only
    from mlcl_core.config import DataConfig

#: Every corpus by its ``DataConfig.corpus`` name; each loader is called ``(data_path,
#: languages)``. Only SIB-200 accepts ``data_path=None`` (its embedded copy).
LOADERS: dict[str, Callable[..., Corpus]] = {
    "sib200": load_sib200,
    "flores200": load_flores200,
    "mms": load_mms,
}
EMBEDDED: tuple[str, ...] = ("sib200",)


def load_corpus(
    corpus: str = "sib200",
    data_path: str | Path | None = None,
    languages: Sequence[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
    subset: int | None = None,
) -> Corpus:
    """Load a corpus by name (the ``DataConfig`` fields) and keep ``subset`` rows per
    split."""
    loader = LOADERS.get(corpus)
    if loader is None:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(LOADERS)}")
    if data_path is None and corpus not in EMBEDDED:
        raise ValueError(
            f"corpus {corpus!r} needs data_path (only SIB-200 is embedded)"
        )
    c = loader(data_path, languages)
    return c.select(subset=subset) if subset else c


def load_from_config(data_cfg: DataConfig) -> Corpus:
    """Load the corpus a :class:`~mlcl_core.config.DataConfig` describes."""
    corpus = load_corpus(
        data_cfg.corpus, data_cfg.data_path, data_cfg.languages, data_cfg.subset
    )
    if data_cfg.train_sentences is not None:
        corpus = corpus.with_train_sentences(data_cfg.train_sentences)
    return corpus


__all__ = [
    "SPLITS",
    "LANGUAGE_NAMES",
    "LOADERS",
    "EMBEDDED",
    "FLORES_METADATA_COLUMNS",
    "MMS_LANGUAGE_CODES",
    "Corpus",
    "CorpusError",
    "language_name",
    "load_corpus",
    "load_from_config",
    "load_sib200",
    "load_flores200",
    "load_mms",
    "available_languages",
    "embedded_sib200_dir",
    "flores_languages",
]
