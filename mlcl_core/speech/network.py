"""Retries with exponential backoff for backends that call a server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .base import SynthesisError

T = TypeVar("T")


def with_retries(
    call: Callable[[], T],
    backend: str,
    text_id: str,
    retries: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried ``retries`` times after waiting backoff, 2*backoff,
    4*backoff, ... seconds; then :class:`SynthesisError` naming the backend, the text id
    and the last error. ``ValueError`` (bad input: no point retrying) propagates at
    once."""
    if retries < 0 or backoff < 0:
        raise ValueError(f"retries and backoff must be >= 0, got {retries}, {backoff}")
    for attempt in range(retries + 1):
        try:
            return call()
        except ValueError:
            raise
        # network stacks raise many types; all are worth a retry
        except Exception as err:
            last = err
            if attempt < retries:
                sleep(backoff * 2**attempt)
    raise SynthesisError(
        f"{backend}: synthesis of {text_id} failed after {retries + 1} attempts: "
        f"{type(last).__name__}: {last}"
    ) from last
