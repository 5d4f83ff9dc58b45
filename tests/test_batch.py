"""The batch run of the book: parameters per chapter, skipping finished chapters,
resuming after a failure, the failure message and the HTML rendering, on throwaway
books made here."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlcl_core import batch
from mlcl_core.batch import BatchError, is_finished, plan, run_batch

TOC = "format: jb-book\nroot: book/intro\nchapters:\n{}"
CONFIG = 'title: "Throwaway"\nexecute:\n  execute_notebooks: force\n'


def _notebook(path: Path, parameters: str, *body: str) -> Path:
    cells = [new_markdown_cell(f"# {path.stem}")]
    if parameters:
        cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells += [new_code_cell(src) for src in body]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        },
    )
    nbformat.write(nb, str(path))
    return path


def _book(root: Path, chapters: dict[str, tuple[str, ...]]) -> Path:
    """A book of notebooks {stem: (parameters cell, code cells...)} and an intro."""
    (root / "book").mkdir(parents=True)
    for stem, (params, *body) in chapters.items():
        _notebook(root / "book" / f"{stem}.ipynb", params, *body)
    _notebook(root / "book" / "intro.ipynb", "", "print('intro ran')")
    toc = "".join(f"  - file: book/{stem}\n" for stem in chapters)
    (root / "_toc.yml").write_text(TOC.format(toc))
    (root / "_config.yml").write_text(CONFIG)
    return root


# Each run of a chapter appends its name to log_path, so the tests see what really ran.
LOG = "open(log_path, 'a').write(name + '\\n')"
PARAMS = 'log_path: str = ""  # where runs are logged\nname: str = "x"  # who logs\n'


def _runs(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def book(tmp_path):
    return _book(
        tmp_path / "src",
        {
            "01_first": (
                PARAMS + 'profile: str = "tiny"  # preset\nsubset: int = 0  # rows\n',
                LOG,
            ),
            "02_second": (
                PARAMS + 'device: str = "auto"  # device\nseeds: list = [0]  # seeds\n',
                LOG,
                "print('seeds', seeds)",
            ),
        },
    )


def test_plan_gives_each_chapter_only_what_it_declares(book):
    paths = batch.chapters(book / "book")
    assert [p.stem for p in paths] == ["01_first", "02_second"]
    got = plan(
        paths,
        {"subset": 3, "name": "n"},
        {"02_second": {"seeds": [1, 2]}},
        "paper",
        "cuda",
    )
    assert got["01_first"] == {"name": "n", "profile": "paper", "subset": 3}
    assert got["02_second"] == {"name": "n", "device": "cuda", "seeds": [1, 2]}
    assert plan(paths, {}, {}, "tiny", None)["02_second"] == {}


@pytest.mark.parametrize(
    "common, own, profile, device, message",
    [
        ({"subsett": 3}, {}, "tiny", None, "no chapter has parameter.s. subsett"),
        (
            {},
            {"01_first": {"seeds": [1]}},
            "tiny",
            None,
            "chapter 01_first has no parameter.s. seeds",
        ),
        (
            {"seeds": "[0, 1]"},
            {},
            "tiny",
            None,
            r"chapter 02_second: parameter seeds='\[0, 1\]' has type str",
        ),
        ({"subset": 2.5}, {}, "tiny", None, "chapter 01_first: parameter subset=2.5"),
        ({}, {}, "huge", None, "unknown profile 'huge'"),
        ({"profile": "paper"}, {}, "tiny", None, "give profile with --profile"),
        ({}, {}, "tiny", "cuda:x", "unknown device 'cuda:x'"),
    ],
)
def test_bad_parameters_stop_before_any_chapter_runs(
    book, common, own, profile, device, message
):
    with pytest.raises(BatchError, match=message):
        plan(batch.chapters(book / "book"), common, own, profile, device)


def test_device_needs_a_chapter_that_declares_it(tmp_path):
    root = _book(tmp_path, {"01_only": ("x: int = 1  # x\n", "x")})
    with pytest.raises(BatchError, match="no chapter has a device parameter"):
        plan(batch.chapters(root / "book"), {}, {}, "tiny", "cuda")


@pytest.mark.parametrize(
    "annotation", ["int | None", "None | int", "Optional[int]", "'Optional[int]'"]
)
def test_optional_parameters_take_none_or_their_type(tmp_path, annotation):
    params = f"subset: {annotation} = None  # rows; None: all\n"
    root = _book(tmp_path, {"01_only": (params, "subset")})
    paths = batch.chapters(root / "book")
    assert plan(paths, {"subset": None}, {}, "tiny", None)["01_only"] == {
        "subset": None
    }
    assert plan(paths, {"subset": 3}, {}, "tiny", None)["01_only"] == {"subset": 3}
    with pytest.raises(BatchError, match="parameter subset='3' has type str"):
        plan(paths, {"subset": "3"}, {}, "tiny", None)


def test_the_smoke_parameters_fit_the_real_chapters():
    import yaml

    root = Path(__file__).resolve().parents[1]
    paths = batch.chapters(root / "book")
    values = yaml.safe_load((root / ".ci" / "batch-smoke.yml").read_text())
    common, own = batch.split_sections(values, [p.stem for p in paths])
    assert set(own) == {p.stem for p in paths}  # every chapter has smoke settings
    got = plan(paths, common, own, "tiny", None)
    assert got["02_adapter_internals"]["prepare_steps"] == 2


def test_chapter_sections_of_the_parameters(book):
    stems = ["01_first", "02_second"]
    assert batch.split_sections({"a": 1, "02_second": {"b": 2}}, stems) == (
        {"a": 1},
        {"02_second": {"b": 2}},
    )
    with pytest.raises(BatchError, match="no chapter named '03_third'"):
        batch.split_sections({"03_third": {"b": 2}}, stems)
    args = batch.parse_args(
        [
            "-y",
            "{subset: 1, 02_second: {seeds: [1]}}",
            "-y",
            "02_second: {name: z}",
            "-p",
            "subset",
            "4",
            "-r",
            "name",
            "5",
        ]
    )
    assert batch.parameters(args) == {
        "subset": 4,
        "name": "5",
        "02_second": {"seeds": [1], "name": "z"},
    }


def test_finished_chapters_are_skipped_and_changed_ones_rerun(book, tmp_path):
    log = tmp_path / "runs.log"
    out = tmp_path / "out"
    params = {
        "log_path": str(log),
        "01_first": {"name": "a"},
        "02_second": {"name": "b"},
    }
    assert run_batch(book, params=params, render_html=False, out_dir=out) == {
        "01_first": "ran",
        "02_second": "ran",
    }
    assert _runs(log) == ["a", "b"]
    assert run_batch(book, params=params, render_html=False, out_dir=out) == {
        "01_first": "skipped",
        "02_second": "skipped",
    }
    assert _runs(log) == ["a", "b"]
    # Other parameters for one chapter rerun that chapter alone; so does editing one.
    params["02_second"]["seeds"] = [5]
    assert (
        run_batch(book, params=params, render_html=False, out_dir=out)["02_second"]
        == "ran"
    )
    nb = nbformat.read(str(book / "book" / "01_first.ipynb"), as_version=4)
    nb.cells[-1].source += "\nprint('edited')"
    nbformat.write(nb, str(book / "book" / "01_first.ipynb"))
    assert run_batch(book, params=params, render_html=False, out_dir=out) == {
        "01_first": "ran",
        "02_second": "skipped",
    }
    assert _runs(log) == ["a", "b", "b", "a"]
    assert "seeds [5]" in (out / "02_second.ipynb").read_text()
    # The pages that are not chapters (the intro) are executed after them every time.
    assert "intro ran" in (out / "intro.ipynb").read_text()


def test_a_run_cut_short_is_not_finished(book, tmp_path):
    out = tmp_path / "out"
    run_batch(
        book, params={"log_path": str(tmp_path / "log")}, render_html=False, out_dir=out
    )
    src, done = book / "book" / "01_first.ipynb", out / "01_first.ipynb"
    wanted = plan(
        batch.chapters(book / "book"),
        {"log_path": str(tmp_path / "log")},
        {},
        "tiny",
        None,
    )["01_first"]
    assert is_finished(done, src, wanted)
    assert not is_finished(done, src, {**wanted, "subset": 1})
    nb = nbformat.read(str(done), as_version=4)
    nb.metadata.papermill["end_time"] = (
        None  # what papermill leaves while a chapter runs
    )
    nbformat.write(nb, str(done))
    assert not is_finished(done, src, wanted)
    done.write_text(done.read_text()[:200])  # a file cut short
    assert not is_finished(done, src, wanted)
    assert not is_finished(out / "missing.ipynb", src, wanted)


def test_a_failing_chapter_stops_the_batch_and_the_rerun_resumes(tmp_path, capsys):
    marker = tmp_path / "marker"
    log = tmp_path / "runs.log"
    fail = (
        f"import pathlib\nif not pathlib.Path({str(marker)!r}).exists():\n"
        "    raise ValueError('the marker file is missing')"
    )
    root = _book(
        tmp_path / "src",
        {"01_a": (PARAMS, LOG), "02_b": (PARAMS, fail, LOG), "03_c": (PARAMS, LOG)},
    )
    argv = [
        "--root",
        str(root),
        "--no-render",
        "-p",
        "log_path",
        str(log),
        "-y",
        "{01_a: {name: a}, 02_b: {name: b}, 03_c: {name: c}}",
    ]
    assert batch.main(argv) == 1
    err = capsys.readouterr().err
    assert "batch stopped: chapter 02_b failed in cell In [3] (import pathlib)" in err
    assert "ValueError: the marker file is missing" in err
    assert "Traceback" not in err and len(err.splitlines()) <= 4
    assert str(root / "_build" / "batch" / "tiny" / "02_b.ipynb") in err
    assert (
        _runs(log) == ["a"]
        and not (root / "_build" / "batch" / "tiny" / "03_c.ipynb").exists()
    )
    marker.touch()
    assert batch.main(argv) == 0
    assert _runs(log) == ["a", "b", "c"]  # 01_a was finished: not run again


@pytest.mark.slow
def test_the_html_book_shows_the_executed_outputs_without_executing_again(
    book, tmp_path
):
    log = tmp_path / "runs.log"
    out = tmp_path / "out"
    # The book's own Sphinx extension and static files travel with it to the render.
    (book / "_ext").mkdir()
    (book / "_ext" / "stamp.py").write_text(
        "def setup(app):\n"
        "    app.connect('build-finished', lambda app, exc: "
        "(app.outdir / 'stamp.txt').write_text('ok'))\n"
    )
    (book / "_static").mkdir()
    (book / "_static" / "extra.css").write_text("p { color: black; }\n")
    config = (book / "_config.yml").read_text()
    (book / "_config.yml").write_text(
        config + "sphinx:\n  local_extensions:\n    stamp: _ext\n"
    )
    params = {"log_path": str(log), "02_second": {"name": "b", "seeds": [7, 8]}}
    run_batch(book, params=params, out_dir=out, log=lambda msg: None)
    assert _runs(log) == ["x", "b"]  # each chapter once: rendering executed nothing
    html = out / "html"
    assert (html / "index.html").is_file()
    assert (html / "stamp.txt").read_text() == "ok"
    assert (html / "_static" / "extra.css").is_file()
    assert "seeds [7, 8]" in (html / "book" / "02_second.html").read_text()
    assert "intro ran" in (html / "book" / "intro.html").read_text()
    # The source book's config (execute_notebooks: force) is left as it was.
    assert "force" in (book / "_config.yml").read_text()
