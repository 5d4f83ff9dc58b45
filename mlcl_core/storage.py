"""Atomic file writes: a killed run leaves the old file or the new one, never half of
one.

Every store of the project (speech cache, feature cache, checkpoints, results, search
trials) writes through :func:`atomic_path`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` if the block
    succeeds.

    The temporary file lives in the same directory (so the rename is atomic) and is
    removed if the block raises. ``suffix`` lets writers that infer a format from it
    (FLAC) work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
