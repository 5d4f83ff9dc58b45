"""Parallel corpora: one table with an id, a label, a split and one text per language.

Loaders read a corpus from its own layout and check it before anything long starts:
misaligned ids, empty texts, unknown languages and unknown labels raise
:class:`CorpusError` naming the file and line.

Three layouts are read: SIB-200 (:func:`load_sib200`), the official Flores-200 release
(:func:`load_flores200`) and mms-style sentiment tables (:func:`load_mms`, with an optional
translation step, see :mod:`mlcl_core.translation`); :func:`load_corpus` picks one by name.

The embedded default is SIB-200 (Adelani et al. 2023, Apache-2.0; sentences from
Flores-200, NLLB Team et al. 2022, CC BY-SA 4.0) for zho_Hans, bod_Tibt, mya_Mymr and
eng_Latn, shipped as package data under ``mlcl_core/data/sib200``.
"""

from __future__ import annotations

import csv
import inspect
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import numpy as np
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
        """A corpus with only ``languages`` and at most ``subset`` rows per split.

        The rows kept are spread evenly over each split (every k-th row), not the first ones:
        SIB-200's files are sorted by label, so its first 64 test sentences hold only two of
        the seven topics. Evenly spaced rows keep the label proportions without randomness
        (the same ``subset`` always gives the same rows).
        """
        languages = tuple(languages or self.languages)
        missing = [lang for lang in languages if lang not in self.languages]
        if missing:
            raise ValueError(f"language(s) {missing} not in corpus {self.name!r}; it has {list(self.languages)}")
        table = self.table[["id", "label", "split", *languages]]
        if subset is not None:
            if subset < 1:
                raise ValueError(f"subset must be positive, got {subset}")
            parts = []
            for _, rows in table.groupby("split", sort=False):
                keep = np.unique(np.linspace(0, len(rows) - 1, min(subset, len(rows))).round().astype(int))
                parts.append(rows.iloc[keep])
            table = pd.concat(parts)
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


def _require_languages(root: Path, languages: Sequence[str], have: Sequence[str]) -> None:
    unknown = [lang for lang in languages if lang not in have]
    if unknown:
        raise CorpusError(f"{root}: unknown language(s) {unknown}; this corpus has {list(have)}")


def _read_labels(path: Path) -> tuple[str, ...]:
    labels = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not labels:
        raise CorpusError(f"{path}: no labels")
    return labels


def _read_sib_tsv(path: Path) -> list[tuple[int, str, str, str]]:
    """(line number, id, category, text) rows of one SIB-200 TSV, with the header checked."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows: list[tuple[int, str, str, str]] = []
    seen: dict[str, int] = {}
    # utf-8-sig: a file saved by a spreadsheet starts with a BOM that would spoil the header.
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quotechar='"')
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["index_id", "category", "text"]:
            raise CorpusError(f"{path}:1: expected header 'index_id<TAB>category<TAB>text', got {header}")
        for row in reader:
            line = reader.line_num
            if not row:  # a blank line (e.g. a second newline at the end of the file)
                continue
            if len(row) != 3:
                raise CorpusError(f"{path}:{line}: expected 3 tab-separated columns, got {len(row)}")
            idx = row[0].strip()
            if not idx:
                raise CorpusError(f"{path}:{line}: empty index_id")
            if idx in seen:
                raise CorpusError(f"{path}:{line}: duplicate index_id {idx} (first at line {seen[idx]})")
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

    ``root`` defaults to the embedded copy. Labels come from ``<root>/labels.txt`` when it
    exists, else from ``labels``, else from the first language's training file.
    """
    root = Path(root) if root is not None else embedded_sib200_dir()
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_sib200: languages is empty")
    if not root.is_dir():
        raise CorpusError(f"{root}: SIB-200 directory not found")
    _require_languages(root, languages, available_languages(root))
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
    _check_unique_ids(table, root / languages[0])
    return Corpus("sib200", table, languages, tuple(labels))


def _check_unique_ids(table: pd.DataFrame, where: Path) -> None:
    """An id names one sentence: it must not appear in two splits."""
    dup = table[table["id"].duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]["id"]
        splits = sorted(set(dup[dup["id"] == first]["split"]))
        raise CorpusError(f"{where}: id {first} appears in more than one split ({', '.join(splits)})")


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


# Corpora other than SIB-200, by the name DataConfig.corpus uses; each is called (data_path, languages).
_EXTRA_LOADERS: dict[str, Callable[[str | Path, Sequence[str]], Corpus]] = {}


# ---------------------------------------------------------------------------------------------
# Flores-200

FLORES_METADATA_COLUMNS: tuple[str, ...] = ("URL", "domain", "topic", "has_image", "has_hyperlink")


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
    """Rows of ``metadata_dev.tsv`` / ``metadata_devtest.tsv``, header and columns checked."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(FLORES_METADATA_COLUMNS):
            raise CorpusError(f"{path}:1: expected header {'<TAB>'.join(FLORES_METADATA_COLUMNS)!r}, got {header}")
        for row in reader:
            if len(row) != len(FLORES_METADATA_COLUMNS):
                raise CorpusError(f"{path}:{reader.line_num}: expected {len(FLORES_METADATA_COLUMNS)} "
                                  f"tab-separated columns, got {len(row)}")
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

    Layout: ``<root>/dev/<lang>.dev`` and ``<root>/devtest/<lang>.devtest`` (one sentence per
    line, aligned by line across languages) and ``<root>/metadata_dev.tsv``,
    ``<root>/metadata_devtest.tsv`` (columns URL, domain, topic, has_image, has_hyperlink; one
    row per sentence line).

    Flores-200 has no labels or train split of its own, so this mapping is our choice:

    - label: the metadata column ``label_column``; ``domain`` (wikinews / wikijunior /
      wikivoyage) by default, since the paper uses Flores-200 for domain classification with
      2,008 sentences (dev + devtest has 2,009); ``topic`` is the finer alternative.
    - split: ``devtest`` is the test split; of ``dev``, every ``dev_every``-th sentence (lines
      ``dev_every``, ``2 * dev_every``, ...) is the dev split and the rest is train, so the
      rule needs no seed and keeps neighbouring sentences of an article on both sides.
    - id: ``dev-<line>`` or ``devtest-<line>`` (1-based line in the file).

    ``labels`` fixes the label set and order; by default it is the sorted set of labels found.
    """
    root = Path(root)
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_flores200: languages is empty")
    if label_column not in FLORES_METADATA_COLUMNS:
        raise ValueError(f"label_column {label_column!r} is not a Flores-200 metadata column; "
                         f"known: {FLORES_METADATA_COLUMNS}")
    if dev_every < 2:
        raise ValueError(f"dev_every must be at least 2 (1 would leave no training data), got {dev_every}")
    if not root.is_dir():
        raise CorpusError(f"{root}: Flores-200 directory not found")
    _require_languages(root, languages, flores_languages(root))

    parts = []
    for part in ("dev", "devtest"):
        meta_path = root / f"metadata_{part}.tsv"
        meta = _read_flores_metadata(meta_path)
        for i, row in enumerate(meta):
            if not row[label_column]:
                raise CorpusError(f"{meta_path}:{i + 2}: empty {label_column}")
            if labels is not None and row[label_column] not in labels:
                raise CorpusError(f"{meta_path}:{i + 2}: unknown label {row[label_column]!r}; known: {list(labels)}")
        cols: dict[str, list[str]] = {}
        for lang in languages:
            path = root / part / f"{lang}.{part}"
            lines = _read_lines(path)
            if len(lines) != len(meta):
                raise CorpusError(f"{path}: {len(lines)} sentences but {meta_path} has {len(meta)} rows; "
                                  "files are not aligned")
            for i, text in enumerate(lines):
                if not text.strip():
                    raise CorpusError(f"{path}:{i + 1}: empty text (id {part}-{i + 1})")
            cols[lang] = [text.strip() for text in lines]
        line_no = range(1, len(meta) + 1)
        if part == "devtest":
            split = ["test"] * len(meta)
        else:
            split = ["dev" if n % dev_every == 0 else "train" for n in line_no]
        parts.append(pd.DataFrame({"id": [f"{part}-{n}" for n in line_no],
                                   "label": [row[label_column] for row in meta], "split": split, **cols}))
    table = pd.concat(parts, ignore_index=True)
    # Corpus order is train, dev, test like SIB-200, so a subset takes the same rows per split.
    table = table.sort_values("split", key=lambda col: col.map(SPLITS.index), kind="stable")
    found = tuple(sorted(set(table["label"])))
    return Corpus("flores200", table.reset_index(drop=True), languages, tuple(labels) if labels else found)


_EXTRA_LOADERS["flores200"] = load_flores200


# ---------------------------------------------------------------------------------------------
# mms (Brand24 multilingual sentiment corpus)

#: ISO 639-1 codes that mms uses in its ``language`` column, for the corpus codes of the book.
MMS_LANGUAGE_CODES: dict[str, str] = {"zho_Hans": "zh", "bod_Tibt": "bo", "mya_Mymr": "my", "eng_Latn": "en"}

#: Names that a ``split`` column may use, mapped to the corpus split names.
_SPLIT_ALIASES: dict[str, str] = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev",
                                  "val": "dev", "test": "test"}


def _read_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A CSV/TSV/parquet table as strings, with a location (``file:line`` or ``file: row``) per row."""
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for a file that is not parquet
            raise CorpusError(f"{path}: cannot read parquet: {err}") from err
        where = [f"{path}: row {i}" for i in range(len(frame))]
        frame = frame.astype(object).where(frame.notna(), None)
        return frame, where
    if suffix not in (".csv", ".tsv"):
        raise CorpusError(f"{path}: unknown table format {suffix!r}; use .parquet, .csv or .tsv")
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
                raise CorpusError(f"{path}:{reader.line_num}: expected {len(header)} columns, got {len(row)}")
            records.append(row)
            # line_num is the line where the row ends; a quoted field may span several lines.
            where.append(f"{path}:{reader.line_num}")
    return pd.DataFrame(records, columns=[h.strip() for h in header], dtype=object), where


def _stratified_split(labels: Sequence[str], ratios: tuple[float, float, float], seed: int) -> list[str]:
    """A split name per row: within each label, a seeded shuffle cut into train/dev/test by ``ratios``."""
    rng = np.random.default_rng(seed)
    split = [""] * len(labels)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    for lab in sorted(by_label):
        rows = np.array(by_label[lab])[rng.permutation(len(by_label[lab]))]
        n_dev, n_test = (int(round(len(rows) * r)) for r in ratios[1:])
        n_dev = min(n_dev, max(len(rows) - 1 - n_test, 0))  # keep at least one training row
        for k, i in enumerate(rows):
            split[i] = "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
    return split


def _call_translate(translate: Callable[..., list[str]], texts: list[str], source: str, target: str,
                    ids: list[str]) -> list[str]:
    """Call ``translate``, passing row ids only when it accepts them (for its error messages)."""
    try:
        params = inspect.signature(translate).parameters
        takes_ids = "ids" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):  # builtins without a signature
        takes_ids = False
    out = translate(texts, source, target, ids=ids) if takes_ids else translate(texts, source, target)
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

    The rows whose ``language_column`` equals ``source_language`` become the corpus, their
    ``text_column`` the text of ``languages[0]`` (with ``language_column=None`` every row is
    used). ``source_language`` defaults to ``languages[0]`` or its ISO 639-1 code
    (``zho_Hans`` -> ``zh``), whichever the table uses. Each other language comes from a column
    named by its code when the table has one (parallel text), else from
    ``translate(texts, source, target) -> list[str]`` (for example
    :class:`mlcl_core.translation.OpenAITranslator`, as the paper translated Chinese into
    Tibetan and Burmese with GPT-4); it receives ``ids=`` too when it accepts that keyword.

    Ids come from ``id_column`` (default: ``_id`` or ``id`` when present, else the row number).
    Labels are read as strings; ``labels`` fixes their set and order (default: sorted).
    Splits: a ``split`` column when present (``train``, ``dev``/``validation``, ``test``), else
    a stratified split by label, ``split_ratios`` train/dev/test (default 80/10/10), after a
    shuffle seeded by ``split_seed`` (the same file and seed always give the same split).
    """
    path = Path(path)
    languages = tuple(languages)
    if not languages:
        raise ValueError("load_mms: languages is empty")
    if len(split_ratios) != 3 or min(split_ratios) < 0 or abs(sum(split_ratios) - 1.0) > 1e-9:
        raise ValueError(f"split_ratios must be three non-negative numbers summing to 1, got {split_ratios}")
    frame, where = _read_table(path)
    targets = languages[1:]
    parallel = [lang for lang in targets if lang in frame.columns]
    missing = [lang for lang in targets if lang not in frame.columns]
    if missing and translate is None:
        raise CorpusError(f"{path}: no column for language(s) {missing} and no translate step given; "
                          f"columns: {list(frame.columns)}")
    needed = [text_column, label_column] + ([language_column] if language_column else [])
    if id_column:
        needed.append(id_column)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise CorpusError(f"{path}: missing column(s) {absent}; columns: {list(frame.columns)}")

    keep = np.arange(len(frame))
    if language_column:
        values = frame[language_column].astype(str).str.strip()
        candidates = [source_language] if source_language else [languages[0], MMS_LANGUAGE_CODES.get(languages[0])]
        code = next((c for c in candidates if c and (values == c).any()), None)
        if code is None:
            raise CorpusError(f"{path}: unknown language code {candidates[0]!r} in column {language_column!r}; "
                              f"the table has {sorted(set(values))}")
        keep = np.flatnonzero((values == code).to_numpy())
    rows = frame.iloc[keep].reset_index(drop=True)
    where = [where[i] for i in keep]

    if id_column is None:
        id_column = next((c for c in ("_id", "id") if c in frame.columns), None)
    ids = [str(v).strip() for v in rows[id_column]] if id_column else [str(i) for i in keep]
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
    for lang, column in [(languages[0], text_column)] + [(lang, lang) for lang in parallel]:
        texts[lang] = [_cell(v) for v in rows[column]]
        for text, idx, loc in zip(texts[lang], ids, where):
            if not text:
                raise CorpusError(f"{loc}: empty text in column {column!r} (id {idx})")

    if "split" in rows.columns:
        split = []
        for value, loc in zip(rows["split"], where):
            name = _SPLIT_ALIASES.get(_cell(value).lower())
            if name is None:
                raise CorpusError(f"{loc}: unknown split {_cell(value)!r}; known: {sorted(_SPLIT_ALIASES)}")
            split.append(name)
    else:
        split = _stratified_split(row_labels, split_ratios, split_seed)

    # Translation is the long step: every check on the file has passed before it starts.
    for lang in missing:
        assert translate is not None
        out = _call_translate(translate, texts[languages[0]], languages[0], lang, ids)
        if len(out) != len(ids):
            raise CorpusError(f"{path}: translation into {lang} returned {len(out)} texts for {len(ids)} rows")
        for text, idx, loc in zip(out, ids, where):
            if not isinstance(text, str) or not text.strip():
                raise CorpusError(f"{loc}: translation into {lang} is empty (id {idx})")
        texts[lang] = [t.strip() for t in out]

    table = pd.DataFrame({"id": ids, "label": row_labels, "split": split,
                          **{lang: texts[lang] for lang in languages}})
    table = table.sort_values("split", key=lambda col: col.map(SPLITS.index), kind="stable")
    found = tuple(sorted(set(row_labels)))
    return Corpus("mms", table.reset_index(drop=True), languages, tuple(labels) if labels else found)


def _cell(value: object) -> str:
    """A table cell as stripped text; a missing value (None/NaN) is ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


_EXTRA_LOADERS["mms"] = load_mms
