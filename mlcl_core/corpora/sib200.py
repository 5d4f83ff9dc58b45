"""SIB-200 (Adelani et al. 2023): ``<root>/<lang>/{train,dev,test}.tsv``.

The embedded default is SIB-200 (Apache-2.0; sentences from Flores-200, NLLB Team et al.
2022, CC BY-SA 4.0) for zho_Hans, bod_Tibt, mya_Mymr and eng_Latn, shipped as package
data under ``mlcl_core/data/sib200``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

from mlcl_core.corpora.base import SPLITS, Corpus, CorpusError, require_languages


def embedded_sib200_dir() -> Path:
    """Directory of the SIB-200 copy shipped with the package."""
    return Path(str(resources.files("mlcl_core") / "data" / "sib200"))


def available_languages(root: str | Path) -> list[str]:
    """Language directories of a SIB-200-style corpus root (those holding a
    ``train.tsv``)."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / "train.tsv").is_file())


def _read_labels(path: Path) -> tuple[str, ...]:
    labels = tuple(
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    if not labels:
        raise CorpusError(f"{path}: no labels")
    return labels


def _read_sib_tsv(path: Path) -> list[tuple[int, str, str, str]]:
    """(line number, id, category, text) rows of one SIB-200 TSV, with the header
    checked."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows: list[tuple[int, str, str, str]] = []
    seen: dict[str, int] = {}
    # utf-8-sig: a file saved by a spreadsheet starts with a BOM that would spoil the
    # header.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quotechar='"')
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != [
            "index_id",
            "category",
            "text",
        ]:
            raise CorpusError(
                f"{path}:1: expected header 'index_id<TAB>category<TAB>text', got "
                f"{header}"
            )
        for row in reader:
            line = reader.line_num
            if not row:  # a blank line (e.g. a second newline at the end of the file)
                continue
            if len(row) != 3:
                raise CorpusError(
                    f"{path}:{line}: expected 3 tab-separated columns, got {len(row)}"
                )
            idx = row[0].strip()
            if not idx:
                raise CorpusError(f"{path}:{line}: empty index_id")
            if idx in seen:
                raise CorpusError(
                    f"{path}:{line}: duplicate index_id {idx} (first at line "
                    f"{seen[idx]})"
                )
            seen[idx] = line
            rows.append((line, idx, row[1].strip(), row[2].strip()))
    if not rows:
        raise CorpusError(f"{path}: no rows")
    return rows


def load_sib200(
    root: str | Path | None = None,
    languages: Iterable[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
    labels: Sequence[str] | None = None,
) -> Corpus:
    """Load SIB-200 (``<root>/<lang>/{train,dev,test}.tsv``) for ``languages``.

    ``root`` defaults to the embedded copy. Labels come from ``<root>/labels.txt`` when
    it exists, else from ``labels``, else from the first language's training file."""
    root = Path(root) if root is not None else embedded_sib200_dir()
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_sib200: languages is empty")
    if not root.is_dir():
        raise CorpusError(f"{root}: SIB-200 directory not found")
    require_languages(root, languages, available_languages(root))
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
                    raise CorpusError(
                        f"{path}:{line}: unknown label {cat!r}; known: {list(labels)}"
                    )
            if ref is None:
                ref, ref_path = rows, path
            else:
                _check_aligned(ref, ref_path, rows, path)
            cols[lang] = [r[3] for r in rows]
        assert ref is not None
        frames.append(
            pd.DataFrame(
                {
                    "id": [r[1] for r in ref],
                    "label": [r[2] for r in ref],
                    "split": split,
                    **cols,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    _check_unique_ids(table, root / languages[0])
    return Corpus("sib200", table, languages, tuple(labels))


def _check_unique_ids(table: pd.DataFrame, where: Path) -> None:
    """An id names one sentence: it must not appear in two splits."""
    dup = table[table["id"].duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]["id"]
        splits = sorted(set(dup[dup["id"] == first]["split"]))
        raise CorpusError(
            f"{where}: id {first} appears in more than one split ({', '.join(splits)})"
        )


def _check_aligned(ref: list, ref_path: Path, rows: list, path: Path) -> None:
    """Rows of two languages must carry the same ids and labels in the same order."""
    if len(rows) != len(ref):
        raise CorpusError(
            f"{path}: {len(rows)} rows but {ref_path} has {len(ref)}; files are not "
            "parallel"
        )
    for (_, rid, rcat, _), (line, idx, cat, _) in zip(ref, rows):
        if idx != rid:
            raise CorpusError(
                f"{path}:{line}: id {idx} is misaligned; {ref_path} has id {rid} at "
                "this position"
            )
        if cat != rcat:
            raise CorpusError(
                f"{path}:{line}: label {cat!r} for id {idx} differs from {rcat!r} in "
                f"{ref_path}"
            )
