"""MMS-TTS with a tiny random-init VitsModel saved locally (no hub access)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcl_core.speech import get_backend


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    import torch

    path = tmp_path_factory.mktemp("mms-tts-tiny")
    vocab = {
        c: i
        for i, c in enumerate(
            ["<pad>", " ", "a", "b", "e", "i", "k", "m", "n", "o", "p", "t", "u"]
        )
    }
    (path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = transformers.VitsTokenizer(
        str(path / "vocab.json"), add_blank=True, normalize=False, phonemize=False
    )
    cfg = transformers.VitsConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=16,
        flow_size=8,
        spectrogram_bins=9,
        upsample_initial_channel=8,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_filter_channels=8,
        duration_predictor_num_flows=1,
        depth_separable_num_layers=1,
        sampling_rate=22050,
    )
    torch.manual_seed(0)
    transformers.VitsModel(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_mms_local_model(tiny_vits, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = get_backend("mms", models={"xyz": tiny_vits}, seed=3)
    assert (
        backend.voice("xyz_Latn") == tiny_vits
        and backend.voice("mya_Mymr") == "facebook/mms-tts-mya"
    )
    wave = backend.synthesize("pata ka", "xyz_Latn")
    assert (
        wave.dtype == np.float32
        and wave.ndim == 1
        and len(wave) > 0
        and np.isfinite(wave).all()
    )
    # seeded: cacheable
    assert np.array_equal(wave, backend.synthesize("pata ka", "xyz_Latn"))
    assert len(backend.synthesize("", "xyz_Latn")) == 0
    assert "seed=3" in backend.version


def test_mms_hub_offline_fails_cleanly(monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # not in the local HF cache, and the hub may not be asked
    with pytest.raises(OSError):
        get_backend("mms").synthesize("hello", "zzq_Latn")
