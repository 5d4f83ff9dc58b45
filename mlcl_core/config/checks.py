"""The one place where config values are checked: named choices, loss weights, types."""

from __future__ import annotations

import types
import typing
from typing import Any

#: The languages of the paper, as SIB-200 / Flores-200 codes.
PAPER_LANGUAGES: tuple[str, ...] = ("zho_Hans", "bod_Tibt", "mya_Mymr")
CORPORA = ("sib200", "flores200", "mms")
ADAPTER_KINDS = ("simadapter", "metaadapter", "none")
FUSION_KINDS = ("cmbert",)
ALIGN_KINDS = ("cross_attention", "segments")
POOLING_KINDS = ("cls", "mean")
SPEECH_NORMS = ("none", "language")
ACTIVATIONS = ("relu", "gelu")
NGRAM_CLASSIFIERS = ("linear", "mlp")
OPTIMIZERS = ("adamw", "adam")
#: The paper's tau grid (section 4.3), also the search space of hyperopt.
TAU_GRID: tuple[float, ...] = (
    0.01,
    0.02,
    0.03,
    0.04,
    0.05,
    0.06,
    0.07,
    0.08,
    0.09,
    0.1,
    0.3,
    0.5,
)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def check_choice(what: str, value: str, known: tuple[str, ...]) -> None:
    """The one check of a named choice (adapter kind, pooling, activation, ...).

    Configs call it when built; modules that take the bare string call it too, so the
    message and the list of known values live here only.
    """
    _check(value in known, f"unknown {what} {value!r}; known: {', '.join(known)}")


def check_loss_weights(loss: Any) -> None:
    """Eq. 13 needs alpha, beta >= 0, alpha + beta < 1 and tau > 0.

    :class:`LossConfig` runs it when built and the model runs it again on what it is
    given (a config made without ``__post_init__``, e.g. by hand, is caught too).
    """
    a, b, tau = loss.alpha, loss.beta, loss.tau
    _check(a >= 0, f"alpha must be >= 0, got {a}")
    _check(b >= 0, f"beta must be >= 0, got {b}")
    _check(
        a + b < 1,
        f"alpha + beta must be < 1 (the CE weight is 1 - alpha - beta), got {a} + {b}",
    )
    _check(tau > 0, f"tau must be > 0, got {tau}")


def _type_ok(tp: Any, value: Any) -> bool:
    """Whether ``value`` fits the annotation ``tp`` (the small subset used in these
    configs)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(a, value) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(tp)
        return isinstance(value, tuple) and all(_type_ok(args[0], v) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Check ``value`` against field ``name`` of ``cls``; lists become tuples, ints
    floats."""
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise ValueError(
            f"{cls.__name__} has no field {name!r}; fields: {', '.join(hints)}"
        )
    tp = hints[name]
    if isinstance(value, list):
        value = tuple(value)
    if not _type_ok(tp, value):
        raise ValueError(
            f"{name}={value!r} has type {type(value).__name__}; "
            f"{cls.__name__}.{name} expects {tp}"
        )
    if tp is float and isinstance(value, int):
        value = float(value)
    return value
