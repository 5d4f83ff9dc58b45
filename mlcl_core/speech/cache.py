"""Content-addressed cache of synthesised speech: one FLAC file per (backend, voice,
version, text).

Files live in ``<cache_dir>/<key[:2]>/<key>.flac`` (16-bit PCM, 16 kHz). Each file's
comment tag records its frame count and a CRC-32 of the samples, so a truncated or
corrupt file is detected on read and counts as missing. Writes go to a temporary file in
the same directory and are renamed into place (``os.replace``), so a killed run never
leaves a half-written file under a key. (No fsync: this protects against killed
processes, not power loss.)

Checking a file means decoding it (its CRC), which for a whole corpus costs more than a
chapter's training run. So every check that passes (or every write) appends one line
``key seconds size mtime_ns inode`` to ``<cache_dir>/verified.log``; a later listing
(:meth:`SpeechCache.verified_seconds`) trusts a file whose size, modification time and
inode still match its line, and checks only the others. Lines are short single appends,
so processes writing at once do not tear them; a malformed line is ignored (its file is
simply checked again)."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from mlcl_core.storage import atomic_path

from .base import SAMPLE_RATE

_TAG = "mlcl-speech"


class CorruptAudioError(ValueError):
    """A cached audio file is unreadable, truncated or fails its checksum."""


def cache_key(backend: str, voice: str, version: str, text: str) -> str:
    """sha256 (hex) of everything that determines the audio."""
    payload = json.dumps([backend, voice, version, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _pcm16(wave: np.ndarray) -> np.ndarray:
    return (np.clip(wave, -1.0, 32767 / 32768) * 32768).round().astype(np.int16)


def write_wave(path: str | Path, wave: np.ndarray) -> None:
    """Write a (T,) float wave atomically as checksummed 16-bit FLAC."""
    import soundfile as sf

    path = Path(path)
    pcm = _pcm16(np.asarray(wave, dtype=np.float32).reshape(-1))
    # FLAC cannot hold zero frames: store one padding sample, the tag says how many are
    # real.
    body = pcm if len(pcm) else np.zeros(1, np.int16)
    with atomic_path(path, suffix=".flac") as tmp:
        with sf.SoundFile(
            tmp,
            "w",
            samplerate=SAMPLE_RATE,
            channels=1,
            format="FLAC",
            subtype="PCM_16",
        ) as f:
            f.comment = f"{_TAG} frames={len(pcm)} crc32={zlib.crc32(pcm.tobytes())}"
            f.write(body)


def load_wave(path: str | Path) -> np.ndarray:
    """Read a cached wave: (T,) float32 at 16 kHz; :class:`CorruptAudioError` if
    damaged."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            tag, rate = f.comment, f.samplerate
            pcm = f.read(dtype="int16")
    except Exception as err:  # libsndfile reports damage with several error types
        raise CorruptAudioError(f"{path}: unreadable audio ({err})") from err
    fields = (
        dict(kv.split("=", 1) for kv in tag.split()[1:] if "=" in kv)
        if tag.startswith(_TAG)
        else {}
    )
    if "frames" not in fields or rate != SAMPLE_RATE:
        raise CorruptAudioError(
            f"{path}: not a speech-cache file (tag {tag!r}, rate {rate})"
        )
    pcm = pcm[: int(fields["frames"])]
    if len(pcm) != int(fields["frames"]) or zlib.crc32(pcm.tobytes()) != int(
        fields["crc32"]
    ):
        raise CorruptAudioError(
            f"{path}: truncated or corrupt ({len(pcm)} of {fields['frames']} frames)"
        )
    return pcm.astype(np.float32) / 32768.0


class SpeechCache:
    """Synthesised speech on disk, addressed by :func:`cache_key`."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.root = Path(cache_dir).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Where the audio of ``key`` lives (sharded by its first two hex digits)."""
        return self.root / key[:2] / f"{key}.flac"

    def get(self, key: str) -> np.ndarray | None:
        """The cached wave, or ``None`` when missing or damaged (a damaged file is
        removed)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return load_wave(path)
        except CorruptAudioError:
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, wave: np.ndarray) -> Path:
        """Store ``wave`` under ``key`` atomically and return its path."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wave(path, wave)
        return path

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    @property
    def _log(self) -> Path:
        return self.root / "verified.log"

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int, int] | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino

    def mark_verified(self, key: str, seconds: float) -> None:
        """Record that ``key``'s file, as it is now, passed its checks (or was just
        written) and holds ``seconds`` of speech."""
        stamp = self._stamp(self.path(key))
        if stamp is None:
            return
        line = f"{key} {seconds!r} {stamp[0]} {stamp[1]} {stamp[2]}\n"
        with open(self._log, "a", encoding="ascii") as log:  # one short append
            log.write(line)

    def verified_seconds(self, keys: list[str]) -> dict[str, float]:
        """``{key: seconds}`` for the ``keys`` whose file is unchanged since it was last
        verified (:meth:`mark_verified`); the others need :meth:`get`."""
        if not self._log.is_file():
            return {}
        wanted, known = set(keys), {}
        text = self._log.read_text(encoding="ascii", errors="replace")
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 5 or parts[0] not in wanted:
                continue
            try:
                known[parts[0]] = (float(parts[1]), tuple(map(int, parts[2:])))
            except ValueError:
                continue
        return {
            key: seconds
            for key, (seconds, stamp) in known.items()
            if self._stamp(self.path(key)) == stamp
        }
