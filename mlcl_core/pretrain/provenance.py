"""Provenance of a built checkpoint: data, settings, code commit, date and machine, as
JSON."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from mlcl_core.storage import atomic_path

PROVENANCE_FILE = "provenance.json"


def git_commit(repo: str | Path) -> str:
    """``HEAD`` of the repository at ``repo`` (``+dirty`` with uncommitted changes), or
    ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", ":(top)mlcl_core"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty.strip() else "")) if head else "unknown"


def texts_digest(texts: Iterable[str]) -> str:
    """sha256 of the texts in order (one per line): which data exactly went in."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    return h.hexdigest()


def machine() -> dict[str, Any]:
    """The machine the checkpoint was built on (its speed explains the settings)."""
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def write_provenance(out_dir: str | Path, **record: Any) -> Path:
    """Write ``record`` plus date and machine to ``out_dir/provenance.json``."""
    path = Path(out_dir) / PROVENANCE_FILE
    full = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **record,
    }
    with atomic_path(path) as tmp:
        Path(tmp).write_text(
            json.dumps(full, indent=2, ensure_ascii=False, default=str) + "\n"
        )
    return path
