"""Frozen feature extraction: once per clip, unpadded, cropped, cached on disk; speech
checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
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
        FrameExtractor(), table, max_seconds=0.3, batch_size=8, load_wave=fake_wave
    )
    assert set(feats) == {
        (lang, str(sid)) for lang in LANGS for sid in corpus.table["id"]
    }
    assert FrameExtractor.calls == int(np.ceil(len(table) / 8))
    for (lang, sid), f in feats.items():
        n = min(len(fake_wave(f"{lang}/{sid}")), int(0.3 * 16000)) // 320
        assert f.shape == (n, 3)
        # Padding inside the extractor's batch must not leak into the kept frames.
        assert torch.isfinite(f).all()
    # Length-sorted batches: the padded batch length (feature 2) stays close to each
    # clip's length.
    waste = [f[0, 2].item() / 320 - f.shape[0] for f in feats.values()]
    assert max(waste) < 10


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
    (first_file,) = tmp_path.glob("*.pt")
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
    assert len(list(tmp_path.glob("*.pt"))) == 3
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
