"""Shared fixtures: the repository root and a papermill runner for chapter smoke runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def run_chapter(tmp_path):
    """Execute ``book/<name>.ipynb`` with papermill and the given parameters; returns the
    executed notebook (nbformat node). Runs from the repository root, like the book build."""
    import nbformat
    import papermill as pm

    def _run(name: str, **params):
        out = tmp_path / f"{name}.out.ipynb"
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            pm.execute_notebook(str(ROOT / "book" / f"{name}.ipynb"), str(out), parameters=params,
                                kernel_name="python3", progress_bar=False, cwd=str(ROOT / "book"))
        finally:
            os.chdir(cwd)
        return nbformat.read(out, as_version=4)

    return _run
