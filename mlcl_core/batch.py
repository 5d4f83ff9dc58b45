"""Batch reproduction of the book: every chapter with papermill, then the HTML book.

::

    python -m mlcl_core.batch --profile paper --device cuda -y 'seeds: [0, 1, 2]'
    make batch PROFILE=paper DEVICE=cuda ARGS="-y 'seeds: [0, 1, 2]'"

Chapters (``book/[0-9]*.ipynb``) run in order, from ``book/``, into
``_build/batch/<profile>/``, each with only the parameters its ``parameters`` cell
declares (``profile``, ``device`` too), all checked before the first chapter starts. A
chapter whose executed notebook ran to its end without an error, from the same source
with the same parameters, is skipped, so a stopped batch goes on where it stopped
(``--force`` reruns it). A failing chapter stops the batch with its name and the failing
cell's error. The other pages of the table of contents (the intro, which reads
the results store) are executed after the chapters, every time. Then Jupyter Book
renders the executed notebooks into ``_build/batch/<profile>/html`` with execution off,
from a copy of the book tree (``_config.yml``, ``_toc.yml``) beside them.

Extra parameters take papermill's options (``-p NAME VALUE``, ``-r NAME VALUE``,
``-y YAML``, ``-f FILE``; papermill's precedence -f < -y < -r < -p). A top-level key
naming a chapter (``04_training: {seeds: [0]}``) holds that chapter's own parameters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlcl_core.batch_plan import (
    BatchError,
    chapters,
    plan,
    split_sections,
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _fingerprint(source: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """What an executed notebook must have been made from to count as finished."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return {
        "source_sha256": digest,
        "parameters": json.loads(json.dumps(params, sort_keys=True)),
    }


def is_finished(
    executed: str | Path, source: str | Path, params: Mapping[str, Any]
) -> bool:
    """Whether ``executed`` ran ``source`` to its end with ``params`` and no error."""
    import nbformat

    executed = Path(executed)
    if not executed.is_file():
        return False
    try:
        meta = nbformat.read(str(executed), as_version=4).metadata
    except Exception:  # a file cut short by a killed run is simply not finished
        return False
    run = meta.get("papermill", {})
    return (
        meta.get("mlcl_batch") == _fingerprint(Path(source), params)
        and run.get("end_time") is not None
        and not run.get("exception")
    )


def _short(text: Any) -> str:
    text = _ANSI.sub("", str(text)).strip()
    return text if len(text) <= 600 else text[:600] + " ..."


def _failure(name: str, err: Exception, executed: Path) -> BatchError:
    """The failed chapter's name, cell and error in a few lines (not the traceback)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first = next((ln for ln in err.source.splitlines() if ln.strip()), "")
        where = f"cell In [{err.exec_count}] ({first.strip()[:70]})"
        what = f"{err.ename}: {_short(err.evalue)}"
    else:  # the kernel died, a timeout, ...
        where, what = "execution", f"{type(err).__name__}: {_short(err)}"
    return BatchError(
        f"chapter {name} failed in {where}:\n    {what}\n"
        f"  the executed notebook, with the full traceback: {executed}"
    )


def execute(
    source: Path, executed: Path, params: Mapping[str, Any], cwd: Path
) -> float:
    """Run a notebook with papermill, recording what it was made from; seconds taken."""
    import nbformat
    import papermill as pm

    nb = nbformat.read(str(source), as_version=4)
    nb.metadata["mlcl_batch"] = _fingerprint(source, params)
    start = time.perf_counter()
    # papermill cannot read string annotations ("Optional[int]") and warns that such a
    # parameter is unknown: :func:`plan` has checked every parameter against its cell.
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        pm.execute_notebook(
            nb,
            str(executed),
            parameters=dict(params),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(cwd),
        )
    except Exception as err:
        raise _failure(source.stem, err, executed) from None
    finally:
        logger.setLevel(level)
    return time.perf_counter() - start


def toc_files(root: Path) -> list[str]:
    """Every file of the book's ``_toc.yml`` (root, parts, chapters, sections)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            files.extend([entry["file"]] if "file" in entry else [])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    walk(toc.get("parts"))
    return files


def render(
    root: Path, out_dir: Path, executed: Mapping[str, Path], log: Callable = print
) -> Path:
    """The HTML book of the executed notebooks, in ``out_dir/html``; runs no cell.

    A copy of the book tree goes to ``out_dir/_book``: ``_toc.yml`` as it is,
    ``_config.yml`` with execution off, the executed notebook of every page that has
    one, the source file of the others.
    """
    tree = out_dir / "_book"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    (tree / "_config.yml").write_text(text, encoding="utf-8")
    shutil.copy2(root / "_toc.yml", tree / "_toc.yml")
    # what the config needs beside the pages: local Sphinx extensions, static files
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    for name in sorted({*local.values(), "_static"}):
        if (root / name).is_dir():
            shutil.copytree(root / name, tree / name)
    for page in toc_files(root):
        stem = Path(page).stem
        found = [root / f"{page}{ext}" for ext in (".ipynb", ".md")]
        source = executed.get(stem) or next((p for p in found if p.exists()), None)
        if source is None:
            raise BatchError(f"page {page} of _toc.yml has no .ipynb or .md file")
        target = tree / Path(page).parent / f"{stem}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(exe) if exe.exists() else "jupyter-book",
        "build",
        str(tree),
        "--builder",
        "html",
        "-W",
        "-n",
        "--keep-going",
    ]
    log("rendering the HTML book (no execution)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BatchError(
            f"the HTML book did not render (jupyter-book exit "
            f"{proc.returncode}):\n{tail}"
        )
    html = out_dir / "html"
    shutil.rmtree(html, ignore_errors=True)
    shutil.move(str(tree / "_build" / "html"), str(html))
    return html


def run_batch(
    root: str | Path = ".",
    profile: str = "tiny",
    device: str | None = None,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    render_html: bool = True,
    out_dir: str | Path | None = None,
    log: Callable = print,
) -> dict[str, str]:
    """Run every chapter of the book at ``root``, then render it (see the module doc).

    ``params``: papermill parameters; keys naming a chapter hold that chapter's own.
    Returns chapter -> ``ran`` or ``skipped``; :class:`BatchError` at the first failure.
    """
    root = Path(root).resolve()
    book = root / "book"
    paths = chapters(book)
    if not paths:
        raise BatchError(f"no chapters (book/[0-9]*.ipynb) under {root}")
    common, own = split_sections(dict(params or {}), [p.stem for p in paths])
    planned = plan(paths, common, own, profile, device)
    out = Path(out_dir) if out_dir else root / "_build" / "batch" / profile
    out.mkdir(parents=True, exist_ok=True)
    status, executed = {}, {}
    for path in paths:
        target = executed[path.stem] = out / path.name
        if not force and is_finished(target, path, planned[path.stem]):
            status[path.stem] = "skipped"
            log(f"{path.stem}: finished earlier with the same parameters, skipped")
            continue
        log(f"{path.stem}: running with {json.dumps(planned[path.stem])}")
        seconds = execute(path, target, planned[path.stem], book)
        status[path.stem] = "ran"
        log(f"{path.stem}: done in {seconds:.0f} s")
    for page in toc_files(root):  # the other pages (the intro) read the stores: rerun
        source = root / f"{page}.ipynb"
        if source.stem not in executed and source.is_file():
            executed[source.stem] = out / source.name
            execute(source, out / source.name, {}, book)
            log(f"{source.stem}: executed")
    if render_html:
        log(f"HTML book: {render(root, out, executed, log)}/index.html")
    return status


def _resolve(value: str) -> Any:
    """A ``-p`` value as papermill reads it: bool, None, int, float, else the text."""
    if value in ("True", "true", "False", "false"):
        return value in ("True", "true")
    if value == "None":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m mlcl_core.batch", description=__doc__.split("\n")[0]
    )
    add = ap.add_argument
    add("--profile", default="tiny", help="config profile (to chapters declaring it)")
    add("--device", help="auto, cpu, cuda or cuda:N (to chapters that declare it)")
    add("--root", default=".", help="the book's root (_config.yml, _toc.yml, book/)")
    add("--out", help="output folder (default: _build/batch/<profile> under the root)")
    add("--force", action="store_true", help="rerun finished chapters too")
    add("--no-render", action="store_true", help="execute only, no HTML book")
    add("-f", "--parameters_file", action="append", default=[], help="YAML file")
    add("-y", "--parameters_yaml", action="append", default=[], help="YAML text")
    add(
        "-r",
        "--parameters_raw",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter as text",
    )
    add(
        "-p",
        "--parameters",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter (number, bool, None or text)",
    )
    return ap.parse_args(argv)


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's parameters, in papermill's precedence (-f < -y < -r < -p)."""
    merged: dict[str, Any] = {}
    texts = [Path(f).read_text(encoding="utf-8") for f in args.parameters_file]
    for text in texts + args.parameters_yaml:
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise BatchError(f"parameters must be a YAML mapping, got {text!r}")
        for key, value in loaded.items():  # chapter sections merge, not replace
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                value = {**merged[key], **value}
            merged[key] = value
    merged.update({name: value for name, value in args.parameters_raw})
    merged.update({name: _resolve(value) for name, value in args.parameters})
    return merged


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_batch(
            args.root,
            args.profile,
            args.device,
            parameters(args),
            args.force,
            not args.no_render,
            args.out,
        )
    except BatchError as err:
        print(f"batch stopped: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
