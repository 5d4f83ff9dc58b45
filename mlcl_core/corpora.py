"""Parallel corpora: one table with an id, a label, a split and one text per language.

Loaders read a corpus from its own layout and check it before anything long starts:
misaligned ids, empty texts, unknown languages and unknown labels raise
:class:`CorpusError` naming the file and line.

The embedded default is SIB-200 (Adelani et al. 2023, Apache-2.0; sentences from
Flores-200, NLLB Team et al. 2022, CC BY-SA 4.0) for zho_Hans, bod_Tibt, mya_Mymr and
eng_Latn, shipped as package data under ``mlcl_core/data/sib200``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

SPLITS: tuple[str, ...] = ("train", "dev", "test")

#: Human-readable names for the language codes used in the book's tables and figures.
LANGUAGE_NAMES: dict[str, str] = {
    "zho_Hans": "Chinese", "bod_Tibt": "Tibetan", "mya_Mymr": "Burmese", "eng_Latn": "English",
}


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Corpus:
    """A parallel corpus.

    ``table`` has columns ``id``, ``label``, ``split`` and one text column per language code,
    one row per parallel sentence. ``labels`` fixes the label order (label index = position).
    """

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

    def select(self, languages: Sequence[str] | None = None, subset: int | None = None) -> "Corpus":
        """A corpus with only ``languages`` and at most ``subset`` rows per split (first rows)."""
        languages = tuple(languages or self.languages)
        missing = [lang for lang in languages if lang not in self.languages]
        if missing:
            raise ValueError(f"language(s) {missing} not in corpus {self.name!r}; it has {list(self.languages)}")
        table = self.table[["id", "label", "split", *languages]]
        if subset is not None:
            table = table.groupby("split", sort=False, group_keys=False).head(subset)
        return Corpus(self.name, table.reset_index(drop=True), languages, self.labels)

    def __len__(self) -> int:
        return len(self.table)


def embedded_sib200_dir() -> Path:
    """Directory of the SIB-200 copy shipped with the package."""
    return Path(str(resources.files("mlcl_core") / "data" / "sib200"))


def available_languages(root: str | Path) -> list[str]:
    """Language directories of a SIB-200-style corpus root (those holding a ``train.tsv``)."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / "train.tsv").is_file())


def _read_labels(path: Path) -> tuple[str, ...]:
    labels = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not labels:
        raise CorpusError(f"{path}: no labels")
    return labels


def _read_sib_tsv(path: Path) -> list[tuple[int, str, str]]:
    """(line number, id, category, text) rows of one SIB-200 TSV, with the header checked."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quotechar='"')
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["index_id", "category", "text"]:
            raise CorpusError(f"{path}:1: expected header 'index_id<TAB>category<TAB>text', got {header}")
        for row in reader:
            line = reader.line_num
            if len(row) != 3:
                raise CorpusError(f"{path}:{line}: expected 3 tab-separated columns, got {len(row)}")
            rows.append((line, row[0].strip(), row[1].strip(), row[2].strip()))
    if not rows:
        raise CorpusError(f"{path}: no rows")
    return rows


def load_sib200(
    root: str | Path | None = None,
    languages: Iterable[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
    labels: Sequence[str] | None = None,
) -> Corpus:
    """Load SIB-200 (``<root>/<lang>/{train,dev,test}.tsv``) for ``languages``.

    ``root`` defaults to the embedded copy. Labels come from ``<root>/labels.txt`` when it
    exists, else from ``labels``, else from the first language's training file.
    """
    root = Path(root) if root is not None else embedded_sib200_dir()
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_sib200: languages is empty")
    if not root.is_dir():
        raise CorpusError(f"{root}: SIB-200 directory not found")
    have = available_languages(root)
    unknown = [lang for lang in languages if lang not in have]
    if unknown:
        raise CorpusError(f"{root}: unknown language(s) {unknown}; this corpus has {have}")
    if (root / "labels.txt").is_file():
        labels = _read_labels(root / "labels.txt")

    frames = []
    for split in SPLITS:
        ref: list[tuple[int, str, str, str]] | None = None
        cols: dict[str, list[str]] = {}
        for lang in languages:
            path = root / lang / f"{split}.tsv"
            rows = _read_sib_tsv(path)
            if labels is None:
                labels = tuple(sorted({r[2] for r in rows}))
            for line, idx, cat, text in rows:
                if not text:
                    raise CorpusError(f"{path}:{line}: empty text (id {idx})")
                if cat not in labels:
                    raise CorpusError(f"{path}:{line}: unknown label {cat!r}; known: {list(labels)}")
            if ref is None:
                ref, ref_path = rows, path
            else:
                _check_aligned(ref, ref_path, rows, path)
            cols[lang] = [r[3] for r in rows]
        assert ref is not None
        frames.append(pd.DataFrame({"id": [r[1] for r in ref], "label": [r[2] for r in ref],
                                    "split": split, **cols}))
    table = pd.concat(frames, ignore_index=True)
    return Corpus("sib200", table, languages, tuple(labels))


def _check_aligned(ref: list, ref_path: Path, rows: list, path: Path) -> None:
    """Rows of two languages must carry the same ids and labels in the same order."""
    if len(rows) != len(ref):
        raise CorpusError(f"{path}: {len(rows)} rows but {ref_path} has {len(ref)}; files are not parallel")
    for (_, rid, rcat, _), (line, idx, cat, _) in zip(ref, rows):
        if idx != rid:
            raise CorpusError(f"{path}:{line}: id {idx} is misaligned; {ref_path} has id {rid} at this position")
        if cat != rcat:
            raise CorpusError(f"{path}:{line}: label {cat!r} for id {idx} differs from {rcat!r} in {ref_path}")


def load_corpus(corpus: str = "sib200", data_path: str | Path | None = None,
                languages: Sequence[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
                subset: int | None = None) -> Corpus:
    """Load a corpus by name (the ``DataConfig`` fields) and keep ``subset`` rows per split."""
    if corpus == "sib200":
        c = load_sib200(data_path, languages)
    else:
        loader = _EXTRA_LOADERS.get(corpus)
        if loader is None:
            raise ValueError(f"unknown corpus {corpus!r}; known: sib200, {', '.join(_EXTRA_LOADERS)}")
        if data_path is None:
            raise ValueError(f"corpus {corpus!r} needs data_path (only SIB-200 is embedded)")
        c = loader(data_path, languages)
    return c.select(subset=subset) if subset else c


def load_from_config(data_cfg) -> Corpus:  # data_cfg: config.DataConfig
    """Load the corpus a :class:`~mlcl_core.config.DataConfig` describes."""
    return load_corpus(data_cfg.corpus, data_cfg.data_path, data_cfg.languages, data_cfg.subset)


# Filled in below by the Flores-200 and mms loaders.
_EXTRA_LOADERS: dict = {}
