"""The parallel corpus type shared by every loader, and the language names of the
book."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS: tuple[str, ...] = ("train", "dev", "test")

#: Human-readable names for the language codes used in the book's tables and figures.
LANGUAGE_NAMES: dict[str, str] = {
    "zho_Hans": "Chinese",
    "bod_Tibt": "Tibetan",
    "mya_Mymr": "Burmese",
    "eng_Latn": "English",
}


def language_name(lang: str) -> str:
    """The name of a language code for tables and figures (the code when unknown)."""
    return LANGUAGE_NAMES.get(lang, lang)


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Corpus:
    """A parallel corpus.

    ``table`` has columns ``id``, ``label``, ``split`` and one text column per language
    code, one row per parallel sentence. ``labels`` fixes the label order (label index =
    position)."""

    name: str
    table: pd.DataFrame
    languages: tuple[str, ...]
    labels: tuple[str, ...]

    def split(self, split: str) -> pd.DataFrame:
        """Rows of one split (``train``, ``dev`` or ``test``), in corpus order."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {SPLITS}")
        return self.table[self.table["split"] == split].reset_index(drop=True)

    def label_ids(self, split: str) -> list[int]:
        """Label indices of one split."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        return [index[lab] for lab in self.split(split)["label"]]

    def select(
        self, languages: Sequence[str] | None = None, subset: int | None = None
    ) -> Corpus:
        """A corpus with only ``languages`` and at most ``subset`` rows per split.

        The rows kept are spread evenly over each split (every k-th row), not the first
        ones:
        SIB-200's files are sorted by label, so its first 64 test sentences hold only
        two of the seven topics. Evenly spaced rows keep the label proportions without
        randomness (the same ``subset`` always gives the same rows)."""
        languages = tuple(languages or self.languages)
        missing = [lang for lang in languages if lang not in self.languages]
        if missing:
            raise ValueError(
                f"language(s) {missing} not in corpus {self.name!r}; it has "
                f"{list(self.languages)}"
            )
        table = self.table[["id", "label", "split", *languages]]
        if subset is not None:
            if subset < 1:
                raise ValueError(f"subset must be positive, got {subset}")
            parts = []
            for _, rows in table.groupby("split", sort=False):
                keep = np.unique(
                    np.linspace(0, len(rows) - 1, min(subset, len(rows)))
                    .round()
                    .astype(int)
                )
                parts.append(rows.iloc[keep])
            table = pd.concat(parts)
        return Corpus(self.name, table.reset_index(drop=True), languages, self.labels)

    def with_train_sentences(self, n: int) -> Corpus:
        """A corpus with only ``n`` training sentences; dev and test untouched.

        The training rows are ranked once, label by label in proportion (row r of a
        label with c rows ranks at (r + 0.5) / c), and the first ``n`` are kept: every
        smaller subset is inside every larger one (nested, for data-length curves) and
        the label proportions are kept without randomness."""
        train = self.table[self.table["split"] == "train"]
        if not 0 < n <= len(train):
            raise ValueError(
                f"train_sentences must lie in 1..{len(train)} (the training "
                f"sentences of {self.name!r}), got {n}"
            )
        rank = train.groupby("label", sort=False).cumcount()
        count = train.groupby("label", sort=False)["label"].transform("size")
        key = pd.DataFrame(
            {"key": (rank + 0.5) / count, "pos": np.arange(len(train))},
            index=train.index,
        )
        keep = key.sort_values(["key", "pos"], kind="stable").index[:n]
        mask = (self.table["split"] != "train") | self.table.index.isin(keep)
        table = self.table[mask].reset_index(drop=True)
        return Corpus(self.name, table, self.languages, self.labels)

    def __len__(self) -> int:
        return len(self.table)


def require_languages(
    root: Path, languages: Sequence[str], have: Sequence[str]
) -> None:
    unknown = [lang for lang in languages if lang not in have]
    if unknown:
        raise CorpusError(
            f"{root}: unknown language(s) {unknown}; this corpus has {list(have)}"
        )


def sort_splits(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in corpus order train, dev, test (stable), so a subset takes the same
    rows."""
    table = table.sort_values(
        "split", key=lambda col: col.map(SPLITS.index), kind="stable"
    )
    return table.reset_index(drop=True)
