"""Speech synthesis: one interface over several TTS backends, 16 kHz mono float32 numpy
arrays.

::

    from mlcl_core import speech
    wave = speech.synthesize("你好", "zho_Hans")  # offline espeak-ng, (T,) float32
    backend = speech.get_backend("gtts", retries=5)  # the paper's online backend
    table = speech.synthesize_corpus(corpus, cache_dir="~/.cache/mlcl/speech")

Backends (``BACKENDS``): ``espeak`` (offline default, libespeak-ng through ctypes;
Tibetan via bophono IPA -> espeak phonemes), ``gtts`` (online), ``marytts`` (a user's
HTTP server) and ``mms`` (transformers VitsModel). Optional backends are imported only
when asked for. Language codes are corpus codes (``zho_Hans``, ``bod_Tibt``, ...) or
bare ISO 639-3 codes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import (
    BACKENDS,
    SAMPLE_RATE,
    NoVoiceError,
    SpeechBackend,
    SynthesisError,
    backend_class,
    backends_for,
    default_text_id,
    get_backend,
)
from .cache import SpeechCache, load_wave
from .corpus import corpus_audio, synthesize_corpus


def synthesize(
    text: str, lang: str, backend: str = "espeak", **opts: Any
) -> np.ndarray:
    """Speak ``text`` in ``lang`` with ``backend``: (T,) float32 at 16 kHz.

    Empty text gives an empty array (espeak: its ~7 ms end pause). Backends are cached
    per process and options, so repeated calls do not re-initialise them."""
    key = (backend, tuple(sorted((k, repr(v)) for k, v in opts.items())))
    if key not in _INSTANCES:
        _INSTANCES[key] = get_backend(backend, **opts)
    return _INSTANCES[key].synthesize(text, lang)


_INSTANCES: dict[tuple, SpeechBackend] = {}

__all__ = [
    "SAMPLE_RATE",
    "BACKENDS",
    "NoVoiceError",
    "SynthesisError",
    "SpeechBackend",
    "get_backend",
    "backend_class",
    "backends_for",
    "default_text_id",
    "synthesize",
    "SpeechCache",
    "load_wave",
    "synthesize_corpus",
    "corpus_audio",
]
