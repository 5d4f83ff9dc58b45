"""Audio helpers shared by the backends: int16/float conversion, resampling, decoding
bytes."""

from __future__ import annotations

import io
from functools import lru_cache
from math import gcd

import numpy as np

from .base import SAMPLE_RATE


def to_float32(samples: np.ndarray) -> np.ndarray:
    """int16 PCM or any float array -> float32 in [-1, 1], mono (channels averaged)."""
    x = np.asarray(samples)
    if x.ndim == 2:  # (T, C) from soundfile
        x = x.mean(axis=1)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _lowpass(up: int, down: int) -> np.ndarray:
    """scipy ``resample_poly``'s default FIR (Kaiser, beta 5, 10 zero crossings per
    side),
    designed once: redesigning its ~9,000 taps on every call cost as much as
    synthesis."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(
        np.float32
    )


def resample(wave: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy) of a (T,) float32 wave from ``rate`` to ``target``
    Hz."""
    if rate == target or len(wave) == 0:
        return wave.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    up, down = target // g, rate // g
    wave = np.asarray(wave, dtype=np.float32)
    return resample_poly(wave, up, down, window=_lowpass(up, down)).astype(
        np.float32, copy=False
    )


def decode(data: bytes, what: str) -> np.ndarray:
    """Decode WAV/MP3/FLAC bytes with soundfile to a 16 kHz (T,) float32 wave."""
    import soundfile as sf

    try:
        wave, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises several error types for bad input
        raise ValueError(f"cannot decode audio from {what}: {err}") from err
    return resample(to_float32(wave), rate)
