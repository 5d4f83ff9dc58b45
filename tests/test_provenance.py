"""Provenance: stored runs name the code and corpus that made them; stale ones are
found."""

from __future__ import annotations

import pandas as pd

from mlcl_core import provenance as pv


def _tree(tmp_path, files: dict[str, str]):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_code_version_changes_with_result_bearing_code_only(tmp_path):
    root = _tree(tmp_path, {"losses.py": "a = 1\n", "plots/x.py": "p = 1\n"})
    before = pv.code_version.__wrapped__(root)
    (root / "plots" / "x.py").write_text("p = 2\n")
    assert pv.code_version.__wrapped__(root) == before
    (root / "losses.py").write_text("a = 2\n")
    assert pv.code_version.__wrapped__(root) != before


def test_code_version_sees_a_renamed_module(tmp_path):
    root = _tree(tmp_path, {"a.py": "x = 1\n"})
    before = pv.code_version.__wrapped__(root)
    (root / "a.py").rename(root / "b.py")
    assert pv.code_version.__wrapped__(root) != before


def test_the_installed_library_has_a_code_version():
    version = pv.code_version()
    assert len(version) == 12 and int(version, 16) >= 0
    names = {p.relative_to(pv.PACKAGE).as_posix() for p in pv.source_files()}
    assert "losses.py" in names and "provenance.py" not in names


def _table(text: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2],
            "label": ["a", "b"],
            "split": ["train", "test"],
            "zho_Hans": ["x", text],
        }
    )


def test_corpus_fingerprint_sees_one_changed_text_and_label_order():
    base = pv.corpus_fingerprint("sib200", _table("y"), ("a", "b"))
    assert pv.corpus_fingerprint("sib200", _table("y"), ("a", "b")) == base
    assert pv.corpus_fingerprint("sib200", _table("z"), ("a", "b")) != base
    assert pv.corpus_fingerprint("sib200", _table("y"), ("b", "a")) != base


def test_stale_reason_names_what_changed():
    record = {"provenance": {"code_version": "c1", "corpus": "k1"}}
    assert pv.stale_reason(record, "c1", "k1") is None
    assert "library version c1" in pv.stale_reason(record, "c2", "k1")
    assert "corpus k1" in pv.stale_reason(record, "c1", "k2")
    assert "library version None" in pv.stale_reason({}, "c1", "k1")
