"""Atomic writes: the old file survives a failed write, and no temporary file is left
behind."""

from __future__ import annotations

import pytest

from mlcl_core.storage import atomic_path


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "x.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]


def test_atomic_path_keeps_the_suffix_writers_need(tmp_path):
    with atomic_path(tmp_path / "a.flac", suffix=".flac") as tmp:
        assert tmp.suffix == ".flac"
        tmp.write_bytes(b"x")
