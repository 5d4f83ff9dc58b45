"""mms-style sentiment tables (Brand24's multilingual corpus): text, label, language.

Languages the table lacks come from a translation step (see
:mod:`mlcl_core.translation`)."""

from __future__ import annotations

import csv
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlcl_core.corpora.base import Corpus, CorpusError, sort_splits

#: ISO 639-1 codes that mms uses in its ``language`` column, for the corpus codes of the
#: book.
MMS_LANGUAGE_CODES: dict[str, str] = {
    "zho_Hans": "zh",
    "bod_Tibt": "bo",
    "mya_Mymr": "my",
    "eng_Latn": "en",
}

#: Names that a ``split`` column may use, mapped to the corpus split names.
_SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "test": "test",
}


def _read_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A CSV/TSV/parquet table as strings, with a location (``file:line`` or ``file:
    row``) per row."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        # pyarrow raises several types for a file that is not parquet
        except Exception as err:
            raise CorpusError(f"{path}: cannot read parquet: {err}") from err
        where = [f"{path}: row {i}" for i in range(len(frame))]
        frame = frame.astype(object).where(frame.notna(), None)
        return frame, where
    if suffix not in (".csv", ".tsv"):
        raise CorpusError(
            f"{path}: unknown table format {suffix!r}; use .parquet, .csv or .tsv"
        )
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ",")
        header = next(reader, None)
        if not header:
            raise CorpusError(f"{path}:1: no header")
        records, where = [], []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise CorpusError(
                    f"{path}:{reader.line_num}: expected {len(header)} columns, got "
                    f"{len(row)}"
                )
            records.append(row)
            # line_num is the line where the row ends; a quoted field may span several
            # lines.
            where.append(f"{path}:{reader.line_num}")
    return pd.DataFrame(
        records, columns=[h.strip() for h in header], dtype=object
    ), where


def _stratified_split(
    labels: Sequence[str], ratios: tuple[float, float, float], seed: int
) -> list[str]:
    """A split name per row: within each label, a seeded shuffle cut into train/dev/test
    by ``ratios``."""
    rng = np.random.default_rng(seed)
    split = [""] * len(labels)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    for lab in sorted(by_label):
        rows = np.array(by_label[lab])[rng.permutation(len(by_label[lab]))]
        n_dev, n_test = (int(round(len(rows) * r)) for r in ratios[1:])
        # keep at least one training row
        n_dev = min(n_dev, max(len(rows) - 1 - n_test, 0))
        for k, i in enumerate(rows):
            split[i] = (
                "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
            )
    return split


def _call_translate(
    translate: Callable[..., list[str]],
    texts: list[str],
    source: str,
    target: str,
    ids: list[str],
) -> list[str]:
    """Call ``translate``, passing row ids only when it accepts them (for its error
    messages)."""
    try:
        params = inspect.signature(translate).parameters
        takes_ids = "ids" in params or any(
            p.kind is p.VAR_KEYWORD for p in params.values()
        )
    except (TypeError, ValueError):  # builtins without a signature
        takes_ids = False
    out = (
        translate(texts, source, target, ids=ids)
        if takes_ids
        else translate(texts, source, target)
    )
    return list(out)


def load_mms(
    path: str | Path,
    languages: Sequence[str] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
    text_column: str = "text",
    label_column: str = "label",
    language_column: str | None = "language",
    source_language: str | None = None,
    translate: Callable[..., list[str]] | None = None,
    id_column: str | None = None,
    labels: Sequence[str] | None = None,
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    split_seed: int = 0,
) -> Corpus:
    """Load an mms-format table (text, label, language) as a parallel corpus.

    The rows whose ``language_column`` equals ``source_language`` become the corpus,
    their ``text_column`` the text of ``languages[0]`` (with ``language_column=None``
    every row is used). ``source_language`` defaults to ``languages[0]`` or its ISO
    639-1 code (``zho_Hans`` -> ``zh``), whichever the table uses. Each other language
    comes from a column named by its code when the table has one (parallel text), else
    from ``translate(texts, source, target) -> list[str]`` (for example
    :class:`mlcl_core.translation.OpenAITranslator`, as the paper translated Chinese
    into Tibetan and Burmese with GPT-4); it receives ``ids=`` too when it accepts that
    keyword.

    Ids come from ``id_column`` (default: ``_id`` or ``id`` when present, else the row
    number). Labels are read as strings; ``labels`` fixes their set and order (default:
    sorted).
    Splits: a ``split`` column when present (``train``, ``dev``/``validation``,
    ``test``), else a stratified split by label, ``split_ratios`` train/dev/test
    (default 80/10/10), after a shuffle seeded by ``split_seed`` (the same file and seed
    always give the same split)."""
    path = Path(path)
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_mms: languages is empty")
    if (
        len(split_ratios) != 3
        or min(split_ratios) < 0
        or abs(sum(split_ratios) - 1.0) > 1e-9
    ):
        raise ValueError(
            f"split_ratios must be three non-negative numbers summing to 1, got "
            f"{split_ratios}"
        )
    frame, where = _read_table(path)
    targets = languages[1:]
    parallel = [lang for lang in targets if lang in frame.columns]
    missing = [lang for lang in targets if lang not in frame.columns]
    if missing and translate is None:
        raise CorpusError(
            f"{path}: no column for language(s) {missing} and no translate step given; "
            f"columns: {list(frame.columns)}"
        )
    needed = [text_column, label_column] + (
        [language_column] if language_column else []
    )
    if id_column:
        needed.append(id_column)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise CorpusError(
            f"{path}: missing column(s) {absent}; columns: {list(frame.columns)}"
        )

    keep = np.arange(len(frame))
    if language_column:
        values = frame[language_column].astype(str).str.strip()
        candidates = (
            [source_language]
            if source_language
            else [languages[0], MMS_LANGUAGE_CODES.get(languages[0])]
        )
        code = next((c for c in candidates if c and (values == c).any()), None)
        if code is None:
            raise CorpusError(
                f"{path}: unknown language code {candidates[0]!r} in column "
                f"{language_column!r}; "
                f"the table has {sorted(set(values))}"
            )
        keep = np.flatnonzero((values == code).to_numpy())
    rows = frame.iloc[keep].reset_index(drop=True)
    where = [where[i] for i in keep]

    if id_column is None:
        id_column = next((c for c in ("_id", "id") if c in frame.columns), None)
    ids = (
        [str(v).strip() for v in rows[id_column]]
        if id_column
        else [str(i) for i in keep]
    )
    first: dict[str, str] = {}
    for idx, loc in zip(ids, where):
        if idx in first:
            raise CorpusError(f"{loc}: duplicate id {idx!r} (first at {first[idx]})")
        first[idx] = loc

    row_labels = []
    for value, loc in zip(rows[label_column], where):
        lab = _cell(value)
        if not lab:
            raise CorpusError(f"{loc}: empty label")
        if labels is not None and lab not in labels:
            raise CorpusError(f"{loc}: unknown label {lab!r}; known: {list(labels)}")
        row_labels.append(lab)

    texts: dict[str, list[str]] = {}
    for lang, column in [(languages[0], text_column)] + [
        (lang, lang) for lang in parallel
    ]:
        texts[lang] = [_cell(v) for v in rows[column]]
        for text, idx, loc in zip(texts[lang], ids, where):
            if not text:
                raise CorpusError(f"{loc}: empty text in column {column!r} (id {idx})")

    if "split" in rows.columns:
        split = []
        for value, loc in zip(rows["split"], where):
            name = _SPLIT_ALIASES.get(_cell(value).lower())
            if name is None:
                raise CorpusError(
                    f"{loc}: unknown split {_cell(value)!r}; known: "
                    f"{sorted(_SPLIT_ALIASES)}"
                )
            split.append(name)
    else:
        split = _stratified_split(row_labels, split_ratios, split_seed)

    # Translation is the long step: every check on the file has passed before it starts.
    for lang in missing:
        assert translate is not None
        out = _call_translate(translate, texts[languages[0]], languages[0], lang, ids)
        if len(out) != len(ids):
            raise CorpusError(
                f"{path}: translation into {lang} returned {len(out)} texts for "
                f"{len(ids)} rows"
            )
        for text, idx, loc in zip(out, ids, where):
            if not isinstance(text, str) or not text.strip():
                raise CorpusError(f"{loc}: translation into {lang} is empty (id {idx})")
        texts[lang] = [t.strip() for t in out]

    table = pd.DataFrame(
        {
            "id": ids,
            "label": row_labels,
            "split": split,
            **{lang: texts[lang] for lang in languages},
        }
    )
    table = sort_splits(table)
    found = tuple(sorted(set(row_labels)))
    return Corpus("mms", table, languages, tuple(labels) if labels else found)


def _cell(value: object) -> str:
    """A table cell as stripped text; a missing value (None/NaN) is ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()
