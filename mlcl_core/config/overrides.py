"""Configs from a profile and overrides (:func:`make_config`), and the check of a
chapter's papermill parameters (:func:`check_parameters`)."""

from __future__ import annotations

import ast
import typing
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mlcl_core.config.checks import _coerce, _type_ok
from mlcl_core.config.experiment import _COMPONENTS, PROFILES, ExperimentConfig


def _owners(name: str) -> list[str]:
    return [
        comp for comp, cls in _COMPONENTS.items() if name in typing.get_type_hints(cls)
    ]


def _address(key: str) -> tuple[str, str]:
    """(component, field) of an override name: ``alpha``, ``loss.alpha`` or
    ``adapter_kind``."""
    if "." in key:
        comp, name = key.split(".", 1)
        if comp not in _COMPONENTS:
            raise ValueError(
                f"unknown config component {comp!r} in {key!r}; known: "
                f"{', '.join(_COMPONENTS)}"
            )
        return comp, name
    owners = _owners(key)
    prefix, _, rest = key.partition("_")
    if not owners and prefix in _COMPONENTS and rest:
        return prefix, rest  # a chapter parameter: adapter_kind sets adapter.kind
    if not owners:
        raise ValueError(f"unknown config field {key!r}")
    if len(owners) > 1:
        raise ValueError(
            f"{key!r} is ambiguous; write one of: "
            + ", ".join(f"{o}.{key}" for o in owners)
        )
    return owners[0], key


#: Defaults that the paper tied to a corpus rather than to a profile: its Table 3 (mms)
#: used SimAdapter, its Table 2 MetaAdapter. An explicit value still wins.
CORPUS_DEFAULTS: dict[str, dict[str, Any]] = {"mms": {"adapter.kind": "simadapter"}}


def make_config(profile: str = "tiny", **overrides: Any) -> ExperimentConfig:
    """The preset ``profile`` with ``overrides`` applied.

    Names: a flat name must belong to exactly one component (``alpha``, ``num_epochs``);
    an ambiguous one (``hidden_size``, ``name_or_path``, ``kind``) needs its component,
    dotted (``text.hidden_size``) or, as a chapter parameter must be an identifier, with
    an underscore (``text_name_or_path``, ``adapter_kind``).

    ``None`` is the one "not set" value (the chapters' idiom for optional parameters):
    the field keeps the profile's value. Every field whose ``None`` means something
    (``subset``, ``data_path``, ``name_or_path`` of the tiny profile) is ``None`` in the
    profiles, so not setting it gives that meaning; a config that switches off the
    feature cache against a profile's path is made with ``dataclasses.replace``.
    A field left unset takes the corpus's default first (:data:`CORPUS_DEFAULTS`:
    SimAdapter for ``mms``, as in the paper's Table 3), else the profile's.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    base = PROFILES[profile]
    per_comp: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        comp, name = _address(key)
        cls = _COMPONENTS[comp]
        if value is None:
            _coerce(cls, name, getattr(getattr(base, comp), name, None))  # known name?
            continue  # not set: the profile's value
        per_comp.setdefault(comp, {})[name] = _coerce(cls, name, value)
    corpus = per_comp.get("data", {}).get("corpus", base.data.corpus)
    for key, value in CORPUS_DEFAULTS.get(corpus, {}).items():
        comp, name = key.split(".")
        per_comp.setdefault(comp, {}).setdefault(name, value)
    kw = {comp: replace(getattr(base, comp), **vals) for comp, vals in per_comp.items()}
    return replace(base, **kw)


def injected_parameters(namespace: Mapping[str, Any]) -> list[str]:
    """Names that papermill injected into a running chapter (its ``# Parameters`` cell).

    IPython keeps the source of every executed cell in ``In``; papermill's injected cell
    starts with the comment ``# Parameters``. Empty outside IPython.
    """
    names: list[str] = []
    for source in namespace.get("In", None) or []:
        if not isinstance(source, str) or not source.lstrip().startswith(
            "# Parameters"
        ):
            continue
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(namespace: Mapping[str, Any]) -> None:
    """Check a chapter's papermill parameters against its ``parameters`` cell.

    Call as ``check_parameters(globals())`` right after the parameters. A name the
    chapter does not declare (a typo, or a name from another chapter) is an error, where
    papermill only warns. Papermill injects values as plain assignments, so a list
    passed with ``-p`` (which arrives as a string) or a number given as text fails here,
    naming the parameter, instead of deep inside a run."""
    annotations = namespace.get("__annotations__", {})
    unknown = [
        name for name in injected_parameters(namespace) if name not in annotations
    ]
    if unknown:
        raise ValueError(
            f"parameter(s) {', '.join(unknown)} not declared by this chapter; "
            f"it declares: {', '.join(annotations)}"
        )
    for name, tp in annotations.items():
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(tp, str):  # annotations written as strings, e.g. "Optional[int]"
            simple = {
                "int": int,
                "float": float,
                "str": str,
                "bool": bool,
                "list": list,
                "dict": dict,
            }
            optional = tp.startswith("Optional[") and tp.endswith("]")
            inner = tp[len("Optional[") : -1] if optional else None
            tp = (simple[inner] | None) if inner in simple else simple.get(tp, Any)
        if not _type_ok(tp, value):
            hint = (
                " (papermill's -p passes text: give lists as YAML, -y 'name: [...]')"
                if tp is list
                else ""
            )
            raise ValueError(
                f"parameter {name}={value!r} has type {type(value).__name__}; "
                f"the chapter expects {getattr(tp, '__name__', tp)}{hint}"
            )
