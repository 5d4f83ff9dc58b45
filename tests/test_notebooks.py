"""Gates on the chapters: committed without outputs, listed in the TOC,
papermill-ready."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
import yaml
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    for ch in toc.get("chapters", []):
        files.add(ch["file"])
        files.update(sec["file"] for sec in ch.get("sections", []))
    return files


def test_toc_entries_exist():
    for f in _toc_files():
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".ipynb", ".md")), (
            f"{f} in _toc.yml does not exist"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_listed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert f"book/{path.stem}" in _toc_files(), f"{path.name} is not in _toc.yml"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, (
                f"{path.name} cell {i} has outputs: commit notebooks stripped"
            )
            assert cell.execution_count is None, (
                f"{path.name} cell {i} has an execution count"
            )


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.stem != "intro"], ids=lambda p: p.name
)
def test_parameters_cell_holds_annotated_literals(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [
        c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    assert tree.body, "empty parameters cell"
    lines = tagged[0].source.splitlines()
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), (
            f"{path.name}: parameter line {node.lineno} is not `name: type = literal`"
        )
        ast.literal_eval(node.value)  # raises if not a literal
        assert "#" in lines[node.lineno - 1], (
            f"{path.name}: parameter {ast.unparse(node.target)} has no comment"
        )


@pytest.mark.slow
def test_a_parameter_of_the_wrong_type_stops_a_chapter_at_once(run_chapter):
    from papermill.exceptions import PapermillExecutionError

    # `papermill -p seeds "[0, 1]"` passes a string; the chapter must say so before any
    # work.
    with pytest.raises(
        PapermillExecutionError, match="parameter seeds='\\[0, 1\\]' has type str"
    ):
        run_chapter("04_training", seeds="[0, 1]")


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.stem != "intro"], ids=lambda p: p.name
)
def test_every_chapter_declares_profile_and_one_not_set_idiom(path):
    nb = nbformat.read(path, as_version=4)
    (cell,) = [
        c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    lines = cell.source.splitlines()
    params = {ast.unparse(n.target): n for n in ast.parse(cell.source).body}
    assert "profile" in params, f"{path.name} has no profile parameter"
    for name, node in params.items():
        comment = lines[node.lineno - 1].split("#", 1)[1]
        # "not set" is None (annotated `X | None`), never 0 or "" standing in for it
        assert not re.search(r'(^|\s)(0|0\.0|"")[:;]? (means|the|keeps)', comment), (
            f"{path.name}: {name} uses 0 or '' for not set"
        )
        if ast.literal_eval(node.value) is None:
            assert "| None" in ast.unparse(node.annotation), f"{path.name}: {name}"


@pytest.mark.slow
def test_an_undeclared_parameter_stops_a_chapter_at_once(run_chapter):
    from papermill.exceptions import PapermillExecutionError

    # papermill only warns about a name the chapter does not declare; the chapter stops
    with pytest.raises(PapermillExecutionError, match="train_sentences not declared"):
        run_chapter("03_contrastive_losses", train_sentences=8)
