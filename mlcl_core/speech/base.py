"""What every speech backend shares: the sample rate, the errors, the base class, the
registry.

Backends are listed by name in :data:`BACKENDS` and imported only when asked for
(:func:`backend_class`): each pulls in an optional dependency (a shared library, an HTTP
client, transformers) that most runs never need.
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000

#: name -> "module:Class", imported lazily by :func:`get_backend`.
BACKENDS: dict[str, str] = {
    "espeak": "mlcl_core.speech.espeak:EspeakBackend",
    "gtts": "mlcl_core.speech.gtts_backend:GttsBackend",
    "marytts": "mlcl_core.speech.marytts:MaryTTSBackend",
    "mms": "mlcl_core.speech.mms:MmsBackend",
}


class NoVoiceError(ValueError):
    """A backend has no voice for a language; the message names the backends that have
    one."""


class SynthesisError(RuntimeError):
    """Synthesis failed (after retries, for network backends); names the backend and
    text id."""


class SpeechBackend:
    """Base class of the backends: text in one language -> 16 kHz mono float32 samples.

    Subclasses set ``name``, implement ``version``, ``voice``, ``_synthesize`` and the
    classmethod ``serves`` (which must work without the optional dependency or a
    network)."""

    name: str = ""

    @property
    def version(self) -> str:
        """A string that changes whenever the same text would give different audio."""
        raise NotImplementedError

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes this backend has a voice for (ISO 639-3, or full corpus
        codes)."""
        raise NotImplementedError

    @classmethod
    def serves(cls, lang: str) -> bool:
        """Whether this backend has a voice for ``lang`` (cheap, offline)."""
        raise NotImplementedError

    def voice(self, lang: str) -> str:
        """The backend's voice for a corpus language code; raises
        :class:`NoVoiceError`."""
        raise NotImplementedError

    def _synthesize(self, text: str, lang: str, text_id: str) -> np.ndarray:
        raise NotImplementedError

    def synthesize(
        self, text: str, lang: str, text_id: str | None = None
    ) -> np.ndarray:
        """Speak ``text`` in ``lang``: (T,) float32 at 16 kHz. ``text_id`` names it in
        errors."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        self.voice(lang)  # unknown language: NoVoiceError before any work
        wave = self._synthesize(text, lang, text_id or default_text_id(text))
        return np.ascontiguousarray(wave, dtype=np.float32)

    def no_voice(self, lang: str) -> NoVoiceError:
        """The error for a language this backend cannot speak, listing those that
        can."""
        others = [b for b in backends_for(lang) if b != self.name]
        hint = (
            f"backends that can serve it: {', '.join(others)}"
            if others
            else "no backend serves it"
        )
        return NoVoiceError(f"{self.name} has no voice for language {lang!r}; {hint}")


def default_text_id(text: str) -> str:
    """A short id for a text that has none (first 12 hex digits of its sha256)."""
    return "text-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def backend_class(name: str) -> type[SpeechBackend]:
    """The class of backend ``name`` (imports its module)."""
    if name not in BACKENDS:
        raise ValueError(
            f"unknown speech backend {name!r}; known: {', '.join(BACKENDS)}"
        )
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def backends_for(lang: str) -> list[str]:
    """Names of the backends that have a voice for ``lang``."""
    return [name for name in BACKENDS if backend_class(name).serves(lang)]


def get_backend(name: str = "espeak", **opts: Any) -> SpeechBackend:
    """An instance of backend ``name`` with its options (e.g. ``retries``, ``url``)."""
    return backend_class(name)(**opts)
