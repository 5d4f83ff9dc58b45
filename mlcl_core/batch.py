"""Batch reproduction of the whole book: every chapter with papermill, then the HTML book.

::

    python -m mlcl_core.batch --profile paper --device cuda -y 'seeds: [0, 1, 2]'
    make batch PROFILE=paper DEVICE=cuda ARGS="-y 'seeds: [0, 1, 2]'"

Chapters (``book/[0-9]*.ipynb``) run in order from ``book/`` into ``_build/batch/<profile>/``.
Each gets only the parameters its ``parameters`` cell declares (``profile`` and ``device``
included), checked against the cell's annotations before the first chapter starts. A chapter
counts as finished when its executed notebook ran to the end without an exception from the
same chapter source with the same parameters; finished chapters are skipped, so a stopped
batch goes on where it stopped (``--force`` reruns them). A failing chapter stops the batch
with its name and the failing cell's error. The other pages of the table of contents (the
intro, which reads the results store) are executed afterwards, every time. Then the executed
notebooks are rendered into ``_build/batch/<profile>/html`` by Jupyter Book with execution
off, from a copy of the book tree (``_config.yml``, ``_toc.yml``) beside them.

Extra parameters use papermill's options (``-p NAME VALUE``, ``-r NAME VALUE``, ``-y YAML``,
``-f FILE``, with papermill's precedence -f < -y < -r < -p). A top-level key naming a chapter
(``04_training: {seeds: [0]}``) holds parameters for that chapter alone.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from mlcl_core.config import PROFILES, check_parameters

#: Simple annotations of the parameters cells, as :func:`check_parameters` understands them.
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BatchError(RuntimeError):
    """The batch cannot start, a chapter failed, or the book did not render; says which."""


def chapters(book_dir: str | Path) -> list[Path]:
    """The chapters of the book, in order (``[0-9]*.ipynb`` in ``book_dir``)."""
    return sorted(Path(book_dir).glob("[0-9]*.ipynb"))


def declared_parameters(path: str | Path) -> dict[str, Any]:
    """Name -> annotation (a type or its text) of the chapter's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        return {}
    declared: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            ann = node.annotation
            text = ann.value if isinstance(ann, ast.Constant) else ast.unparse(ann)
            declared[node.target.id] = _TYPES.get(text, text)
    return declared


def split_sections(values: Mapping[str, Any], stems: list[str]) -> tuple[dict, dict]:
    """(parameters for every chapter, {chapter: its own parameters}) of a parameter mapping:
    keys starting with a digit name a chapter (a parameter name cannot)."""
    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if not str(key)[:1].isdigit():
            common[key] = value
        elif key not in stems:
            raise BatchError(f"no chapter named {key!r}; chapters: {', '.join(stems)}")
        elif not isinstance(value, dict):
            raise BatchError(f"parameters of chapter {key} must be a mapping, got {value!r}")
        else:
            own.setdefault(key, {}).update(value)
    return common, own


def plan(paths: list[Path], common: Mapping[str, Any], own: Mapping[str, Mapping[str, Any]],
         profile: str, device: str | None) -> dict[str, dict[str, Any]]:
    """Chapter stem -> the parameters it gets; every value checked before any chapter runs.

    ``profile`` and ``device`` go to the chapters that declare them; any other parameter
    must be declared by at least one chapter (a typo would otherwise be ignored silently).
    """
    if profile not in PROFILES:
        raise BatchError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    for name in ("profile", "device"):
        if name in common or any(name in p for p in own.values()):
            raise BatchError(f"give {name} with --{name} (make batch: PROFILE=, DEVICE=)")
    declared = {p.stem: declared_parameters(p) for p in paths}
    if device is not None and not any("device" in d for d in declared.values()):
        raise BatchError("device was given but no chapter has a device parameter")
    unknown = sorted(n for n in common if not any(n in d for d in declared.values()))
    if unknown:
        raise BatchError(f"no chapter has parameter(s) {', '.join(unknown)}")
    wanted = {**common, "profile": profile, **({"device": device} if device else {})}
    out = {}
    for stem, names in declared.items():
        params = {k: v for k, v in wanted.items() if k in names}
        extra = sorted(set(own.get(stem, {})) - set(names))
        if extra:
            raise BatchError(f"chapter {stem} has no parameter(s) {', '.join(extra)}")
        params.update(own.get(stem, {}))
        try:
            check_parameters({**params, "__annotations__": names})
        except ValueError as err:
            raise BatchError(f"chapter {stem}: {err}") from None
        out[stem] = params
    return out


def _fingerprint(source: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """What an executed notebook must have been made from to count as finished."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return {"source_sha256": digest, "parameters": json.loads(json.dumps(params, sort_keys=True))}


def is_finished(executed: str | Path, source: str | Path, params: Mapping[str, Any]) -> bool:
    """Whether ``executed`` ran ``source`` to the end, without an exception, with ``params``."""
    import nbformat

    executed = Path(executed)
    if not executed.is_file():
        return False
    try:
        meta = nbformat.read(str(executed), as_version=4).metadata
    except Exception:  # a file cut short by a killed run is simply not finished
        return False
    run = meta.get("papermill", {})
    return (meta.get("mlcl_batch") == _fingerprint(Path(source), params)
            and run.get("end_time") is not None and not run.get("exception"))


def _failure(name: str, err: Exception, executed: Path) -> BatchError:
    """A short message for a failed chapter: its name, the cell and the error, not the traceback."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first = next((ln for ln in err.source.splitlines() if ln.strip()), "")
        value = _ANSI.sub("", str(err.evalue)).strip()
        if len(value) > 600:
            value = value[:600] + " ..."
        where = f"cell In [{err.exec_count}] ({first.strip()[:70]})"
        what = f"{err.ename}: {value}"
    else:  # the kernel died, a timeout, ...
        where, what = "execution", f"{type(err).__name__}: {_ANSI.sub('', str(err)).strip()[:600]}"
    return BatchError(f"chapter {name} failed in {where}:\n    {what}\n"
                      f"  the executed notebook, with the full traceback: {executed}")


def execute(source: Path, executed: Path, params: Mapping[str, Any], cwd: Path) -> float:
    """Run one notebook with papermill (recording what it was made from); seconds taken."""
    import nbformat
    import papermill as pm

    nb = nbformat.read(str(source), as_version=4)
    nb.metadata["mlcl_batch"] = _fingerprint(source, params)
    start = time.perf_counter()
    # papermill cannot read string annotations ("Optional[int]") and warns that such a
    # parameter is unknown; :func:`plan` has checked every parameter against its cell already.
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        pm.execute_notebook(nb, str(executed), parameters=dict(params), kernel_name="python3",
                            progress_bar=False, cwd=str(cwd))
    except Exception as err:
        raise _failure(source.stem, err, executed) from None
    finally:
        logger.setLevel(level)
    return time.perf_counter() - start


def _toc_files(toc: Mapping[str, Any]) -> list[str]:
    """Every file of a Jupyter Book table of contents (root, chapters, parts, sections)."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def render(root: Path, out_dir: Path, executed: Mapping[str, Path], log: Callable = print) -> Path:
    """The HTML book of the executed notebooks, in ``out_dir/html``; nothing is re-executed.

    A copy of the book tree goes to ``out_dir/_book``: ``_toc.yml`` as it is, ``_config.yml``
    with execution off, the executed notebook for every page that has one, the source file for
    the others.
    """
    tree = out_dir / "_book"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (tree / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    shutil.copy2(root / "_toc.yml", tree / "_toc.yml")
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    for bib in config.get("bibtex_bibfiles", []):
        shutil.copy2(root / bib, tree / bib)
    for page in _toc_files(toc):
        stem = Path(page).stem
        source = executed.get(stem) or next(
            (root / f"{page}{ext}" for ext in (".ipynb", ".md") if (root / f"{page}{ext}").exists()), None)
        if source is None:
            raise BatchError(f"page {page} of _toc.yml has no .ipynb or .md file")
        target = tree / Path(page).parent / f"{stem}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(tree), "--builder", "html",
           "-W", "-n", "--keep-going"]
    log("rendering the HTML book (no execution)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BatchError(f"the HTML book did not render (jupyter-book exit {proc.returncode}):\n{tail}")
    html = out_dir / "html"
    shutil.rmtree(html, ignore_errors=True)
    shutil.move(str(tree / "_build" / "html"), str(html))
    return html


def run_batch(root: str | Path = ".", profile: str = "tiny", device: str | None = None,
              params: Mapping[str, Any] | None = None, force: bool = False, render_html: bool = True,
              out_dir: str | Path | None = None, log: Callable = print) -> dict[str, str]:
    """Run every chapter of the book at ``root`` and render the HTML book (see the module doc).

    ``params``: papermill parameters; keys naming a chapter hold that chapter's own.
    Returns chapter -> ``ran`` or ``skipped``; raises :class:`BatchError` at the first failure.
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
        log(f"{path.stem}: running with {json.dumps(planned[path.stem], sort_keys=True)}")
        seconds = execute(path, target, planned[path.stem], book)
        status[path.stem] = "ran"
        log(f"{path.stem}: done in {seconds:.0f} s")
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    for page in _toc_files(toc):  # pages other than chapters (the intro) read the stores
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
    ap = argparse.ArgumentParser(prog="python -m mlcl_core.batch", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="tiny", help="config profile (passed to chapters that declare it)")
    ap.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (to chapters that declare it)")
    ap.add_argument("--root", default=".", help="the book's root (with _config.yml, _toc.yml, book/)")
    ap.add_argument("--out", default=None, help="output folder (default _build/batch/<profile>)")
    ap.add_argument("--force", action="store_true", help="rerun finished chapters too")
    ap.add_argument("--no-render", action="store_true", help="execute only, no HTML book")
    ap.add_argument("-f", "--parameters_file", action="append", default=[], help="YAML file of parameters")
    ap.add_argument("-y", "--parameters_yaml", action="append", default=[], help="YAML parameters")
    ap.add_argument("-r", "--parameters_raw", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("-p", "--parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    return ap.parse_args(argv)


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of the command line, with papermill's precedence (-f < -y < -r < -p)."""
    merged: dict[str, Any] = {}
    texts = [Path(f).read_text(encoding="utf-8") for f in args.parameters_file] + args.parameters_yaml
    for text in texts:
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise BatchError(f"parameters must be a YAML mapping, got {text!r}")
        for key, value in loaded.items():  # chapter sections merge rather than replace
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    merged.update({name: value for name, value in args.parameters_raw})
    merged.update({name: _resolve(value) for name, value in args.parameters})
    return merged


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_batch(args.root, args.profile, args.device, _parameters(args), args.force,
                  not args.no_render, args.out)
    except BatchError as err:
        print(f"batch stopped: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
