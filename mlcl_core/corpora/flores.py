"""Flores-200 (NLLB Team et al. 2022) from its official release, as a labelled
corpus."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from mlcl_core.corpora.base import Corpus, CorpusError, require_languages, sort_splits

FLORES_METADATA_COLUMNS: tuple[str, ...] = (
    "URL",
    "domain",
    "topic",
    "has_image",
    "has_hyperlink",
)


def _read_lines(path: Path) -> list[str]:
    """Lines of a one-sentence-per-line file, split on newline only."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    # newline="\n": only a real newline ends a sentence; a stray \r or U+2028 inside a
    # sentence must not shift every later line out of alignment.
    with path.open(encoding="utf-8-sig", newline="\n") as fh:
        text = fh.read()
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last sentence
    if not lines:
        raise CorpusError(f"{path}: no sentences")
    return lines


def _read_flores_metadata(path: Path) -> list[dict[str, str]]:
    """Rows of ``metadata_dev.tsv`` / ``metadata_devtest.tsv``, header and columns
    checked."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(
            FLORES_METADATA_COLUMNS
        ):
            raise CorpusError(
                f"{path}:1: expected header "
                f"{'<TAB>'.join(FLORES_METADATA_COLUMNS)!r}, got {header}"
            )
        for row in reader:
            if len(row) != len(FLORES_METADATA_COLUMNS):
                raise CorpusError(
                    f"{path}:{reader.line_num}: expected "
                    f"{len(FLORES_METADATA_COLUMNS)} "
                    f"tab-separated columns, got {len(row)}"
                )
            rows.append(dict(zip(FLORES_METADATA_COLUMNS, (v.strip() for v in row))))
    if not rows:
        raise CorpusError(f"{path}: no rows")
    return rows


def flores_languages(root: str | Path) -> list[str]:
    """Language codes of a Flores-200 root (those with a ``dev/<lang>.dev`` file)."""
    dev = Path(root) / "dev"
    return sorted(p.stem for p in dev.glob("*.dev")) if dev.is_dir() else []


def load_flores200(
    root: str | Path,
    languages: Iterable[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
    label_column: str = "domain",
    labels: Sequence[str] | None = None,
    dev_every: int = 10,
) -> Corpus:
    """Load Flores-200 from its official layout as a labelled parallel corpus.

    Layout: ``<root>/dev/<lang>.dev`` and ``<root>/devtest/<lang>.devtest`` (one
    sentence per line, aligned by line across languages) and
    ``<root>/metadata_dev.tsv``, ``<root>/metadata_devtest.tsv`` (columns URL, domain,
    topic, has_image, has_hyperlink; one row per sentence line).

    Flores-200 has no labels or train split of its own, so this mapping is our choice:

    - label: the metadata column ``label_column``; ``domain`` (wikinews / wikijunior /
      wikivoyage) by default, since the paper uses Flores-200 for domain classification
      with 2,008 sentences (dev + devtest has 2,009); ``topic`` is the finer
      alternative.
    - split: ``devtest`` is the test split; of ``dev``, every ``dev_every``-th sentence
      (lines ``dev_every``, ``2 * dev_every``, ...) is the dev split and the rest is
      train, so the rule needs no seed and keeps neighbouring sentences of an article on
      both sides.
    - id: ``dev-<line>`` or ``devtest-<line>`` (1-based line in the file).

    ``labels`` fixes the label set and order; by default it is the sorted set of labels
    found."""
    root = Path(root)
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_flores200: languages is empty")
    if label_column not in FLORES_METADATA_COLUMNS:
        raise ValueError(
            f"label_column {label_column!r} is not a Flores-200 metadata column; "
            f"known: {FLORES_METADATA_COLUMNS}"
        )
    if dev_every < 2:
        raise ValueError(
            f"dev_every must be at least 2 (1 would leave no training data), got "
            f"{dev_every}"
        )
    if not root.is_dir():
        raise CorpusError(f"{root}: Flores-200 directory not found")
    require_languages(root, languages, flores_languages(root))

    parts = []
    for part in ("dev", "devtest"):
        meta_path = root / f"metadata_{part}.tsv"
        meta = _read_flores_metadata(meta_path)
        for i, row in enumerate(meta):
            if not row[label_column]:
                raise CorpusError(f"{meta_path}:{i + 2}: empty {label_column}")
            if labels is not None and row[label_column] not in labels:
                raise CorpusError(
                    f"{meta_path}:{i + 2}: unknown label {row[label_column]!r}; "
                    f"known: {list(labels)}"
                )
        cols: dict[str, list[str]] = {}
        for lang in languages:
            path = root / part / f"{lang}.{part}"
            lines = _read_lines(path)
            if len(lines) != len(meta):
                raise CorpusError(
                    f"{path}: {len(lines)} sentences but {meta_path} has {len(meta)} "
                    "rows; "
                    "files are not aligned"
                )
            for i, text in enumerate(lines):
                if not text.strip():
                    raise CorpusError(f"{path}:{i + 1}: empty text (id {part}-{i + 1})")
            cols[lang] = [text.strip() for text in lines]
        line_no = range(1, len(meta) + 1)
        if part == "devtest":
            split = ["test"] * len(meta)
        else:
            split = ["dev" if n % dev_every == 0 else "train" for n in line_no]
        parts.append(
            pd.DataFrame(
                {
                    "id": [f"{part}-{n}" for n in line_no],
                    "label": [row[label_column] for row in meta],
                    "split": split,
                    **cols,
                }
            )
        )
    # Corpus order is train, dev, test like SIB-200, so a subset takes the same rows.
    table = sort_splits(pd.concat(parts, ignore_index=True))
    found = tuple(sorted(set(table["label"])))
    return Corpus("flores200", table, languages, tuple(labels) if labels else found)
