"""ctypes binding of libespeak-ng (synchronous mode): text or ``[[phonemes]]`` -> int16
samples.

The library keeps global state (one current voice, one callback), so every call goes
through one :class:`EspeakLib` per process, guarded by a lock."""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
PHONEMES = 0x100  # lets ``[[...]]`` hold phoneme mnemonics
EVENT_PHONEME = 7
POS_CHARACTER = 1


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class EspeakLib:
    """One initialised libespeak-ng in this process; ``synth`` is thread-safe."""

    def __init__(self, library_path: str, data_path: str) -> None:
        self._lib = ctypes.CDLL(library_path)
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        self._lib.espeak_Info.restype = ctypes.c_char_p
        # espeak_Initialize takes the directory that *contains* espeak-ng-data.
        parent = os.path.dirname(os.path.abspath(data_path)).encode()
        self.sample_rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            parent,
            INITIALIZE_PHONEME_EVENTS | INITIALIZE_DONT_EXIT,
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed for data {data_path!r}")
        self.version = self._lib.espeak_Info(None).decode()
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._phonemes: list[str] = []
        # kept referenced: the library holds the pointer
        self._callback = _CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != 0:  # the event list ends with LIST_TERMINATED
            if events[i].type == EVENT_PHONEME:
                self._phonemes.append(events[i].id.string.decode("ascii", "replace"))
            i += 1
        return 0  # 0 = keep synthesising

    def synth(
        self, text: str, voice: str, phonemes: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """int16 samples at ``sample_rate`` and the phoneme mnemonics espeak spoke."""
        data = text.encode("utf-8") + b"\0"
        flags = CHARS_UTF8 | (PHONEMES if phonemes else 0)
        with self._lock:
            if voice != self._voice:
                if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise ValueError(f"espeak has no voice {voice!r}")
                self._voice = voice
            self._chunks, self._phonemes = [], []
            err = self._lib.espeak_Synth(
                data, len(data), 0, POS_CHARACTER, 0, flags, None, None
            )
            if err != 0:
                raise RuntimeError(
                    f"espeak_Synth failed with code {err} for voice {voice!r}"
                )
            chunks, spoken = self._chunks, self._phonemes
            self._chunks, self._phonemes = [], []
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return samples, spoken


def phoneme_inventory(data_path: str, table: str) -> set[str]:
    """Phoneme mnemonics that phoneme table ``table`` accepts, with the tables it
    includes (read from espeak-ng-data/phontab): what may appear inside ``[[...]]`` for
    its voices."""
    import struct

    data = open(os.path.join(data_path, "phontab"), "rb").read()
    tables: dict[str, tuple[int, set[str]]] = {}
    names: list[str] = []
    pos = 4
    for _ in range(data[0]):
        n_phonemes, includes = data[pos], data[pos + 1]
        name = data[pos + 4 : pos + 36].split(b"\0")[0].decode()
        pos += 36
        # each PHONEME_TAB entry is 16 bytes and starts with the mnemonic packed in a
        # uint32
        mnemonics = {
            struct.unpack_from("<I", data, pos + 16 * i)[0]
            .to_bytes(4, "little")
            .rstrip(b"\0")
            .decode("latin-1")
            for i in range(n_phonemes)
        }
        pos += 16 * n_phonemes
        tables[name] = (includes, mnemonics - {""})
        names.append(name)
    if table not in tables:
        raise ValueError(
            f"espeak has no phoneme table {table!r}; tables: {', '.join(names)}"
        )
    inventory: set[str] = set()
    while True:
        includes, mnemonics = tables[table]
        inventory |= mnemonics
        if not includes:
            return inventory
        table = names[includes - 1]
