"""The content-addressed speech cache: keys, sharding, atomic writes, damaged files
redone."""

from __future__ import annotations

import numpy as np
import pytest

from mlcl_core.speech.cache import CorruptAudioError, SpeechCache, cache_key, load_wave


def _wave(n: int = 16000, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


def test_key_depends_on_backend_voice_version_and_text():
    base = cache_key("espeak", "cmn", "1.52", "你好")
    assert len(base) == 64 and base == cache_key("espeak", "cmn", "1.52", "你好")
    others = [
        cache_key("gtts", "cmn", "1.52", "你好"),
        cache_key("espeak", "my", "1.52", "你好"),
        cache_key("espeak", "cmn", "1.51", "你好"),
        cache_key("espeak", "cmn", "1.52", "你好。"),
    ]
    assert len({base, *others}) == 5


def test_roundtrip_sharded(tmp_path):
    cache, key, wave = SpeechCache(tmp_path), cache_key("b", "v", "1", "t"), _wave()
    assert cache.get(key) is None and key not in cache
    path = cache.put(key, wave)
    assert path == tmp_path / key[:2] / f"{key}.flac"
    got = cache.get(key)
    assert got.dtype == np.float32 and len(got) == len(wave)
    assert np.abs(got - wave).max() <= 1 / 32768  # 16-bit storage
    empty = cache_key("b", "v", "1", "")
    cache.put(empty, np.zeros(0, np.float32))
    assert len(cache.get(empty)) == 0


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import soundfile

    cache, key = SpeechCache(tmp_path), cache_key("b", "v", "1", "t")

    def broken_write(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(soundfile.SoundFile, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, _wave())
    assert list(tmp_path.rglob("*.*")) == []  # neither the file nor a temporary


def test_overwrite_is_atomic_replace(tmp_path):
    cache, key = SpeechCache(tmp_path), cache_key("b", "v", "1", "t")
    cache.put(key, _wave(seed=1))
    inode = cache.path(key).stat().st_ino
    cache.put(key, _wave(seed=2))
    assert cache.path(key).stat().st_ino != inode  # a new file renamed over the old one
    assert np.abs(cache.get(key) - _wave(seed=2)).max() <= 1 / 32768


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_file_is_detected_and_redone(tmp_path, damage):
    cache, key = SpeechCache(tmp_path), cache_key("b", "v", "1", "t")
    path = cache.put(key, _wave(48000))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"x" * 1000)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptAudioError):
        load_wave(path)
    assert cache.get(key) is None and not path.exists()  # removed, so it will be redone
    cache.put(key, _wave(48000))
    assert len(cache.get(key)) == 48000
