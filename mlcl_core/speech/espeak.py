"""The offline default backend: eSpeak NG through ctypes (pip wheel
``espeakng-loader``), or the ``espeak-ng`` binary through a subprocess where the wheel
is missing.

Voices: Mandarin ``cmn``, Burmese ``my``, English ``en`` and most languages espeak-ng
has.
Tibetan has no espeak voice: :mod:`.tibetan` turns it into ``cmn`` phonemes via bophono.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .audio import resample, to_float32
from .base import SpeechBackend
from .languages import ISO3_TO_ISO1, is_tibetan, split_code

ENGINES = ("auto", "ctypes", "subprocess")
#: Corpus languages whose espeak voice is not the ISO 639-1 code.
_SPECIAL_VOICES = {"zho": "cmn", "cmn": "cmn", "yue": "yue", "hak": "hak", "mya": "my"}
TIBETAN_VOICE = "cmn"
# libespeak-ng 1.52 aborts the whole process ("buffer overflow detected") on some
# Burmese clauses of ~10 words (each word alone is fine): such voices get short clauses,
# one call each.
_SHORT_CLAUSE_VOICES = {"my": 48}


def short_clauses(text: str, max_chars: int) -> list[str]:
    """``text`` cut at whitespace into pieces of at most ``max_chars`` characters (a
    longer
    word stays whole: single long words were never seen to crash)."""
    pieces: list[str] = []
    for word in text.split():
        if pieces and len(pieces[-1]) + 1 + len(word) <= max_chars:
            pieces[-1] += " " + word
        else:
            pieces.append(word)
    return pieces


@lru_cache(maxsize=1)
def _wheel_paths() -> tuple[str, str] | None:
    try:
        import espeakng_loader
    except ImportError:
        return None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


@lru_cache(maxsize=1)
def espeak_voice_names() -> frozenset[str]:
    """Voice names of the espeak-ng data in use (file names under
    ``espeak-ng-data/lang``)."""
    paths = _wheel_paths()
    if paths is None:
        return frozenset(_SPECIAL_VOICES.values()) | frozenset(ISO3_TO_ISO1.values())
    return frozenset(
        p.name.lower() for p in Path(paths[1], "lang").rglob("*") if p.is_file()
    )


def espeak_voice(lang: str) -> str | None:
    """espeak voice for a corpus language code, ``None`` if espeak has none."""
    iso3, _ = split_code(lang)
    if is_tibetan(lang):
        return TIBETAN_VOICE
    voice = _SPECIAL_VOICES.get(iso3) or ISO3_TO_ISO1.get(iso3, iso3)
    return voice if voice in espeak_voice_names() else None


_LIB = None
_LIB_PID = None
_LIB_LOCK = threading.Lock()


def shared_lib():
    """This process's libespeak-ng, initialised once per process (also in worker
    processes)."""
    global _LIB, _LIB_PID
    with _LIB_LOCK:
        if _LIB is None or _LIB_PID != os.getpid():
            from ._espeak_lib import EspeakLib

            lib_path, data_path = _wheel_paths()
            _LIB, _LIB_PID = EspeakLib(lib_path, data_path), os.getpid()
        return _LIB


def parse_wav_stream(data: bytes) -> tuple[np.ndarray, int]:
    """int16 samples and rate of a WAV from ``espeak-ng --stdout``, whose RIFF and data
    sizes are placeholders (it cannot seek back in a pipe): everything after 'data' is
    samples."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"espeak-ng did not write a WAV stream ({len(data)} bytes)")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = (
            data[pos : pos + 4],
            int.from_bytes(data[pos + 4 : pos + 8], "little"),
        )
        if chunk == b"fmt ":
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        elif chunk == b"data":
            body = data[pos + 8 :]
            return np.frombuffer(
                body[: len(body) // 2 * 2], dtype="<i2"
            ).copy(), rate or 22050
        pos += 8 + size
    raise ValueError("espeak-ng WAV stream has no data chunk")


class EspeakBackend(SpeechBackend):
    """eSpeak NG. ``engine``: ``ctypes`` (libespeak-ng from the pip wheel, fastest),
    ``subprocess`` (the ``espeak-ng`` binary) or ``auto`` (ctypes if the wheel is
    installed)."""

    name = "espeak"

    def __init__(self, engine: str = "auto", binary: str = "espeak-ng") -> None:
        if engine not in ENGINES:
            raise ValueError(
                f"unknown espeak engine {engine!r}; known: {', '.join(ENGINES)}"
            )
        if engine == "auto":
            engine = "ctypes" if _wheel_paths() else "subprocess"
        if engine == "ctypes" and _wheel_paths() is None:
            raise ValueError(
                "espeak engine 'ctypes' needs the pip package espeakng-loader"
            )
        if engine == "subprocess" and shutil.which(binary) is None:
            raise ValueError(
                f"espeak engine 'subprocess' needs the {binary!r} binary on PATH"
            )
        self.engine, self.binary = engine, binary
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            if self.engine == "ctypes":
                engine = shared_lib().version
            else:
                out = subprocess.run(
                    [self.binary, "--version"], capture_output=True, text=True
                ).stdout
                engine = out.split(":", 1)[-1].split()[0] if ":" in out else out.strip()
            # Tibetan audio also depends on bophono and our IPA mapping.
            from .tibetan import MAP_VERSION

            bophono = metadata.version("bophono")
            self._version = (
                f"espeak-ng {engine}; bophono {bophono}; tibmap {MAP_VERSION}"
            )
        return self._version

    @property
    def languages(self) -> tuple[str, ...]:
        codes = set(_SPECIAL_VOICES) | set(ISO3_TO_ISO1) | {"bod_Tibt"}
        return tuple(sorted(c for c in codes if espeak_voice(c)))

    @classmethod
    def serves(cls, lang: str) -> bool:
        try:
            return espeak_voice(lang) is not None
        except ValueError:
            return False

    def voice(self, lang: str) -> str:
        voice = espeak_voice(lang)
        if voice is None:
            raise self.no_voice(lang)
        return f"{voice}+bophono" if is_tibetan(lang) else voice

    def _synthesize(self, text: str, lang: str, text_id: str) -> np.ndarray:
        phonemes = is_tibetan(lang)
        if phonemes:
            from .tibetan import tibetan_to_espeak

            text = tibetan_to_espeak(text)
        voice = espeak_voice(lang)
        limit = _SHORT_CLAUSE_VOICES.get(voice)
        pieces = short_clauses(text, limit) if limit else [text]
        if self.engine == "ctypes":
            lib = shared_lib()
            parts = [lib.synth(piece, voice, phonemes=phonemes)[0] for piece in pieces]
            rate = lib.sample_rate
        else:
            parts, rates = (
                zip(*[self._run_binary(piece, voice) for piece in pieces])
                if pieces
                else ((), ())
            )
            rate = rates[0] if rates else 22050
        samples = np.concatenate(parts) if parts else np.zeros(0, np.int16)
        return resample(to_float32(samples), rate)

    def synthesize_raw(self, text: str, voice: str) -> np.ndarray:
        """``text`` read by espeak voice ``voice`` as it is, with no conversion (e.g.
        raw Tibetan with ``cmn``: the naive route, for comparison). (T,) float32 at 16
        kHz."""
        if self.engine == "ctypes":
            lib = shared_lib()
            return resample(to_float32(lib.synth(text, voice)[0]), lib.sample_rate)
        samples, rate = self._run_binary(text, voice)
        return resample(to_float32(samples), rate)

    def _run_binary(self, text: str, voice: str) -> tuple[np.ndarray, int]:
        if not text.strip():  # espeak-ng writes 0 bytes (no header) for empty input
            return np.zeros(0, np.int16), 22050
        # Text goes on stdin: as an argument, text starting with '-' would be read as an
        # option.
        proc = subprocess.run(
            [self.binary, "-v", voice, "-b", "1", "--stdin", "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{self.binary} failed ({proc.returncode}): "
                f"{proc.stderr.decode(errors='replace')}"
            )
        return parse_wav_stream(proc.stdout)
