"""Frozen feature extraction: once per clip, unpadded, cropped, cached on disk; speech
checks."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch
from conftest import FrameExtractor, fake_speech_table, fake_wave

from mlcl_core.config import make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.encoders import build_audio_encoder
from mlcl_core.features import audio_features, check_speech, corpus_features

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=20)


def test_audio_features_once_per_clip_unpadded_and_cropped(corpus):
    table = fake_speech_table(corpus, LANGS)
    FrameExtractor.calls = 0
    feats = audio_features(
        FrameExtractor(), table, max_seconds=0.3, load_wave=fake_wave
    )
    assert set(feats) == {
        (lang, str(sid)) for lang in LANGS for sid in corpus.table["id"]
    }
    assert FrameExtractor.calls == len(table)
    for (lang, sid), f in feats.items():
        n_samples = min(len(fake_wave(f"{lang}/{sid}")), int(0.3 * 16000))
        assert f.shape == (n_samples // 320, 3)
        # Every clip ran alone: the extractor's input (feature 2) was the clip itself.
        assert (f[:, 2] == n_samples).all()
        assert torch.isfinite(f).all()


def test_audio_features_rejects_bad_table():
    with pytest.raises(ValueError, match="path"):
        audio_features(
            FrameExtractor(), pd.DataFrame({"id": ["1"], "lang": ["x"]}), 1.0
        )


def test_feature_disk_cache_is_reused_and_keyed_by_extractor_weights(
    corpus, tmp_path, monkeypatch
):
    cfg = make_config("tiny")
    table = fake_speech_table(corpus.select(subset=4), LANGS)
    torch.manual_seed(1)
    enc = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    first = audio_features(enc, table, 0.5, load_wave=fake_wave, cache_dir=tmp_path)
    (first_file,) = tmp_path.glob("clips2-*/*.pt")
    # Another run seed builds the same frozen random backbone (init_seed), so the cache
    # hits.
    torch.manual_seed(2)
    enc2 = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    monkeypatch.setattr(
        type(enc2), "extract_features", lambda *a, **k: pytest.fail("recomputed")
    )
    second = audio_features(enc2, table, 0.5, load_wave=fake_wave, cache_dir=tmp_path)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    monkeypatch.undo()
    # Other extractor weights or another crop length: another cache entry.
    with torch.no_grad():
        next(enc2.backbone.feature_extractor.parameters()).add_(1.0)
    audio_features(enc2, table, 0.5, load_wave=fake_wave, cache_dir=tmp_path)
    audio_features(enc, table, 0.25, load_wave=fake_wave, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("clips2-*/*.pt"))) == 3
    assert len(list(tmp_path.glob("clips2-*"))) == 3
    # A truncated cache file is recomputed, not trusted.
    first_file.write_bytes(first_file.read_bytes()[:100])
    again = audio_features(enc, table, 0.5, load_wave=fake_wave, cache_dir=tmp_path)
    assert again.keys() == first.keys() and first_file.stat().st_size > 100


def test_corpus_features_checks_the_speech_table_and_keeps_this_corpus(corpus):
    cfg = make_config("tiny", languages=LANGS[:2], max_seconds=1.0)
    cfg = replace(cfg, speech=replace(cfg.speech, feature_cache_dir=None))
    table = fake_speech_table(load_sib200(languages=LANGS), LANGS)  # every sentence
    feats = corpus_features(cfg, corpus, table, FrameExtractor(), load_wave=fake_wave)
    assert set(feats) == {
        (lang, str(i)) for lang in LANGS[:2] for i in corpus.table["id"]
    }
    speech = fake_speech_table(corpus, LANGS)
    no_tibetan = speech[speech["lang"] != "bod_Tibt"]
    with pytest.raises(ValueError, match="no speech"):
        check_speech(make_config("tiny"), corpus, no_tibetan)
    with pytest.raises(ValueError, match="have no speech"):
        check_speech(make_config("tiny"), corpus, speech.iloc[1:])
    with pytest.raises(ValueError, match="column 'path'"):
        check_speech(
            make_config("tiny"),
            corpus,
            pd.DataFrame({"id": ["1"], "lang": ["zho_Hans"]}),
        )


class _RecordingExtractor(FrameExtractor):
    """Records where it was moved and where its input waves lie."""

    def __init__(self) -> None:
        self.moved_to, self.wave_devices = [], []

    def to(self, device):
        self.moved_to.append(torch.device(device))
        return self

    def extract_features(self, wave, wave_mask):
        self.wave_devices.append(wave.device)
        return super().extract_features(
            torch.zeros(wave.shape), torch.ones(wave.shape, dtype=torch.bool)
        )


def test_audio_features_run_on_the_given_device(corpus):
    extractor = _RecordingExtractor()
    table = fake_speech_table(corpus, LANGS)
    feats = audio_features(
        extractor, table, 0.3, load_wave=fake_wave, device="meta", bf16=True
    )
    assert extractor.moved_to == [torch.device("meta")]
    assert extractor.wave_devices and {d.type for d in extractor.wave_devices} == {
        "meta"
    }
    assert all(f.device.type == "cpu" for f in feats.values())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_audio_features_on_cuda_match_cpu(corpus):
    cfg = make_config("tiny")
    encoder = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    table = fake_speech_table(corpus, LANGS).head(6)
    on_cpu = audio_features(encoder, table, 0.3, load_wave=fake_wave)
    on_gpu = audio_features(encoder, table, 0.3, load_wave=fake_wave, device="cuda")
    for key, f in on_cpu.items():
        torch.testing.assert_close(on_gpu[key], f, atol=1e-4, rtol=1e-3)


def test_a_clips_features_do_not_depend_on_the_other_clips_requested(corpus):
    """The real extractor gives every clip the same bits whether it is asked for with
    the whole table or with a few others (batches with padding did not: their rows
    differed in the last bits), so a per-clip cache is exact."""
    cfg = make_config("tiny")
    enc = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    table = fake_speech_table(corpus, LANGS)
    whole = audio_features(enc, table, 0.5, load_wave=fake_wave)
    some = audio_features(enc, table.iloc[::3], 0.5, load_wave=fake_wave)
    assert len(some) < len(whole)
    for key, f in some.items():
        assert torch.equal(f, whole[key]), key


def test_a_subset_reads_the_clips_the_full_corpus_stored(corpus, tmp_path, monkeypatch):
    """A ``train_sentences`` subset extracts nothing once the full corpus is cached; a
    table with new clips extracts only those and adds them to the cache."""
    cfg = make_config("tiny")
    enc = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    table = fake_speech_table(corpus, LANGS)
    kwargs = {"load_wave": fake_wave, "cache_dir": tmp_path}
    half = audio_features(enc, table.iloc[: len(table) // 2], 0.5, **kwargs)
    calls = []
    extract = type(enc).extract_features

    def counting(self, wave, wave_mask):
        calls.append(wave.shape[0])
        return extract(self, wave, wave_mask)

    monkeypatch.setattr(type(enc), "extract_features", counting)
    full = audio_features(enc, table, 0.5, **kwargs)
    assert sum(calls) == len(table) - len(half)  # only the clips not stored yet
    assert list(full) == [(r.lang, r.id) for r in table.itertuples()]
    for key, f in half.items():
        assert torch.equal(full[key], f)
    calls.clear()
    subset = audio_features(enc, table.iloc[1::4], 0.5, **kwargs)
    assert calls == [] and len(list(tmp_path.glob("clips2-*/*.pt"))) == 2
    for key, f in subset.items():
        assert torch.equal(full[key], f)
    # the same clip under another audio file is another clip
    renamed = table.iloc[:1].assign(path=lambda t: t["path"] + "x")
    audio_features(
        enc, renamed, 0.5, load_wave=lambda p: fake_wave(p[:-1]), cache_dir=tmp_path
    )
    assert calls == [1]
