"""The plan of a batch run (:mod:`mlcl_core.batch`): the chapters, the parameters each
declares, and the parameters each gets, all checked before the first chapter runs."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlcl_core.config import PROFILES, check_parameters

#: Simple annotations of the parameters cells, as :func:`check_parameters` reads them.
_TYPES = {t.__name__: t for t in (int, float, str, bool, list, dict)}


class BatchError(RuntimeError):
    """The batch cannot start, a chapter failed or the book did not render."""


def chapters(book_dir: str | Path) -> list[Path]:
    """The chapters of the book, in order (``[0-9]*.ipynb`` in ``book_dir``)."""
    return sorted(Path(book_dir).glob("[0-9]*.ipynb"))


def declared_parameters(path: str | Path) -> dict[str, Any]:
    """Name -> annotation (a type or its text) of the chapter's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    declared: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body if cells else []:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            ann = node.annotation
            text = ann.value if isinstance(ann, ast.Constant) else ast.unparse(ann)
            declared[node.target.id] = _annotation(text)
    return declared


def _annotation(text: str) -> Any:
    """The type an annotation's text names: ``int``, ``int | None`` and
    ``Optional[int]`` of the simple types; any other text stays text (unchecked)."""
    optional = re.fullmatch(r"(\w+) \| None|None \| (\w+)|Optional\[(\w+)\]", text)
    inner = next((g for g in optional.groups() if g), None) if optional else text
    if inner not in _TYPES:
        return text
    return _TYPES[inner] | None if optional else _TYPES[inner]


def split_sections(values: Mapping[str, Any], stems: list[str]) -> tuple[dict, dict]:
    """(parameters of every chapter, {chapter: its own parameters}) of a mapping: keys
    starting with a digit name a chapter (a parameter name cannot)."""
    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if not str(key)[:1].isdigit():
            common[key] = value
        elif key not in stems:
            raise BatchError(f"no chapter named {key!r}; chapters: {', '.join(stems)}")
        elif not isinstance(value, dict):
            raise BatchError(f"chapter {key}: parameters must be a mapping: {value!r}")
        else:
            own.setdefault(key, {}).update(value)
    return common, own


def plan(
    paths: list[Path],
    common: Mapping[str, Any],
    own: Mapping[str, Mapping[str, Any]],
    profile: str,
    device: str | None,
) -> dict[str, dict[str, Any]]:
    """Chapter -> the parameters it gets, all checked before any chapter runs.

    ``profile`` and ``device`` go to the chapters that declare them; any other parameter
    must be declared by some chapter (a typo would otherwise be ignored silently).
    """
    if profile not in PROFILES:
        raise BatchError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    for name in ("profile", "device"):
        if name in common or any(name in p for p in own.values()):
            raise BatchError(f"give {name} with --{name} (make: PROFILE=, DEVICE=)")
    declared = {p.stem: declared_parameters(p) for p in paths}
    if device is not None and not any("device" in d for d in declared.values()):
        raise BatchError("device was given but no chapter has a device parameter")
    if device is not None and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise BatchError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
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
