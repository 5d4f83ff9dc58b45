"""Where a stored run came from: the code that made it and the corpus it read.

A run id hashes the system, config and seed. That is not enough to reuse a stored run
safely: a record written by older code (say, before a loss fix) or from other data under
the same config would be loaded as if current. So each record also carries
:func:`code_version` and :func:`corpus_fingerprint`, and :func:`stale_reason` says why a
stored record must be rerun rather than reused.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGE = Path(__file__).resolve().parent
#: Modules that only read stored records (figures, table layout, paired bootstraps,
#: the paper's numbers) or only name configs whose every field is in the run id (the
#: ablation rows, the data-length sizes): changing them cannot change what a run with a
#: given id computes, so they do not enter the code version.
READ_ONLY = (
    "plots",
    "tables.py",
    "provenance.py",
    "ablation_report.py",
    "ablations.py",
    "datalength.py",
    "paired.py",
    "paper_rows.py",
    "display.py",
)


def source_files(root: Path = PACKAGE) -> list[Path]:
    """The library's Python sources that can change a run's result, in a fixed order."""
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return [p for p in files if p.relative_to(root).parts[0] not in READ_ONLY]


@cache
def code_version(root: Path = PACKAGE) -> str:
    """A hash of the library's result-bearing sources (12 hex digits).

    Unlike a git commit it is defined without git (an installed wheel, a tarball) and
    it ignores edits elsewhere in the repository (the book, tests, README).
    """
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def corpus_fingerprint(name: str, table: pd.DataFrame, labels: tuple[str, ...]) -> str:
    """A hash of a corpus's rows, texts, splits and label order (12 hex digits).

    Two corpora with the same fingerprint give a run the same data, whatever the files
    they were read from are called.
    """
    payload = {
        "name": name,
        "labels": list(labels),
        "columns": list(table.columns),
        "rows": table.astype(str).to_numpy().tolist(),
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def stale_reason(record: dict[str, Any], code: str, corpus: str) -> str | None:
    """Why a stored ``record`` cannot stand for a run of today's ``code`` on ``corpus``
    (a sentence for the log), or None when it can be reused."""
    stored = record.get("provenance") or {}
    if stored.get("code_version") != code:
        return (
            f"written by library version {stored.get('code_version')}, this is {code}"
        )
    if stored.get("corpus") != corpus:
        return f"made on corpus {stored.get('corpus')}, this run reads {corpus}"
    return None


def provenance_of(corpus: Any) -> dict[str, str]:
    """The ``provenance`` entry of a record made now from ``corpus`` (a
    :class:`~mlcl_core.corpora.Corpus`)."""
    fingerprint = corpus_fingerprint(corpus.name, corpus.table, corpus.labels)
    return {"code_version": code_version(), "corpus": fingerprint}
