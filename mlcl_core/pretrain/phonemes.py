"""What espeak says and when: the phonemes of a synthesised clip with their start times.

The espeak backend speaks every language (Tibetan through bophono and Mandarin
phonemes), and libespeak-ng reports each phoneme it speaks with its position in the
output, so every training clip comes with an exact frame-level transcription: the labels
of the audio pre-training. Mnemonics are shared across voices where they are the same
symbol (``a``, ``n``, ``s``, ...), which is what lets sounds that two languages share
map to one label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlcl_core.speech.audio import resample, to_float32
from mlcl_core.speech.languages import is_tibetan

SILENCE = "_"
SAMPLE_RATE = 16_000


def normalise(mnemonic: str) -> str:
    """One label per sound: stress marks dropped, every kind of pause becomes
    :data:`SILENCE`."""
    if mnemonic.startswith("_") or not mnemonic.strip():
        return SILENCE
    return mnemonic.lstrip("',") or SILENCE


def spoken_phonemes(text: str, lang: str) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """``text`` spoken in ``lang`` as the espeak backend speaks it: (T,) float32, 16 kHz
    and (phoneme, start in seconds) of every phoneme, in order.

    Needs the ctypes engine (pip package ``espeakng-loader``): only libespeak-ng reports
    phoneme events.
    """
    from mlcl_core.speech import espeak

    if espeak._wheel_paths() is None:
        raise RuntimeError(
            "phoneme timings need libespeak-ng from the pip package espeakng-loader"
        )
    voice = espeak.espeak_voice(lang)
    if voice is None:
        raise ValueError(f"espeak has no voice for {lang!r}")
    as_phonemes = is_tibetan(lang)
    if as_phonemes:
        from mlcl_core.speech.tibetan import tibetan_to_espeak

        text = tibetan_to_espeak(text)
    limit = espeak._SHORT_CLAUSE_VOICES.get(voice)
    pieces = espeak.short_clauses(text, limit) if limit else [text]
    lib = espeak.shared_lib()
    parts, timed, offset = [], [], 0.0
    for piece in pieces:
        samples, events = lib.synth_timed(piece, voice, phonemes=as_phonemes)
        parts.append(samples)
        timed += [(normalise(name), offset + ms / 1000) for name, ms in events]
        offset += (
            len(samples) / lib.sample_rate
        )  # pieces are concatenated, so are their times
    samples = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return resample(to_float32(samples), lib.sample_rate), timed


def frame_labels(
    timed: Sequence[tuple[str, float]], frame_times: np.ndarray
) -> list[str]:
    """The phoneme sounding at each of ``frame_times`` (seconds): the last one started
    by then (:data:`SILENCE` before the first)."""
    starts = np.array([t for _, t in timed], dtype=np.float64)
    names = [SILENCE] + [n for n, _ in timed]
    idx = np.searchsorted(
        starts, np.asarray(frame_times, dtype=np.float64), side="right"
    )
    return [names[i] for i in idx]
