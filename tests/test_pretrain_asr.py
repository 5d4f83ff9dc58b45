"""The tiny wav2vec2 phoneme recogniser, and ``python -m mlcl_core.pretrain`` itself."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mlcl_core.config import AdapterConfig, AudioEncoderConfig
from mlcl_core.pretrain import AUDIO_CHECKPOINT, CHECKPOINT_DIR, TEXT_CHECKPOINT
from mlcl_core.pretrain.asr import ASRSettings, pretrain_asr, training_clips

EMBEDDED = Path(__file__).resolve().parents[1] / "mlcl_core" / "data" / "sib200"


def test_small_run_has_the_shipped_shape_and_loads_with_from_pretrained(tmp_path):
    from transformers import Wav2Vec2Model

    from mlcl_core.encoders import build_audio_encoder

    settings = ASRSettings(
        languages=("eng_Latn", "bod_Tibt"),
        max_per_language=2,
        epochs=1,
        batch_size=2,
        crop_seconds=1.0,
        held_out=0.25,
    )
    clips = training_clips(settings)
    assert [c.lang for c in clips] == ["eng_Latn"] * 2 + ["bod_Tibt"] * 2
    summary = pretrain_asr(clips, settings, tmp_path)
    assert summary["train_clips"] == 3 and summary["held_out_clips"] == 1
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    assert vocab["<pad>"] == 0 and len(vocab) == summary["phonemes"] + 1
    enc = build_audio_encoder(
        AudioEncoderConfig(name_or_path=str(tmp_path), pretrained=True),
        AdapterConfig(kind="none"),
        ["eng_Latn"],
    )
    saved = Wav2Vec2Model.from_pretrained(tmp_path).state_dict()
    loaded = enc.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items() if k in loaded)
    wave = torch.randn(1, 64_000)  # 4 s
    feats, mask = enc.extract_features(wave, torch.ones_like(wave, dtype=torch.bool))
    assert 96 <= mask.shape[1] <= 100  # 25 frames per second (the tiny default: 12.5)
    ref = Wav2Vec2Model.from_pretrained(CHECKPOINT_DIR / AUDIO_CHECKPOINT).state_dict()
    assert {k: v.shape for k, v in saved.items()} == {
        k: v.shape for k, v in ref.items()
    }


def test_cli_builds_both_with_provenance(tmp_path):
    from mlcl_core.pretrain.__main__ import main

    pool = tmp_path / "pool"
    for lang in ("eng_Latn", "mya_Mymr"):
        (pool / lang).mkdir(parents=True)
        (pool / lang / "train.tsv").write_text(
            (EMBEDDED / lang / "train.tsv").read_text()
        )
    out = tmp_path / "ckpt"
    main(
        [
            "all",
            "--out",
            str(out),
            "--pool",
            str(pool),
            "--vocab-size",
            "300",
            "--mlm-steps",
            "2",
            "--mlm-batch",
            "4",
            "--max-per-language",
            "20",
            "--asr-epochs",
            "1",
            "--asr-per-language",
            "2",
            "--audio-languages",
            "eng_Latn",
        ]
    )
    for name in (TEXT_CHECKPOINT, AUDIO_CHECKPOINT):
        prov = json.loads((out / name / "provenance.json").read_text())
        assert {
            "date_utc",
            "machine",
            "git_commit",
            "settings",
            "data",
            "result",
        } <= set(prov)
        assert (
            prov["data"]["split"] == "train only" and len(prov["data"]["sha256"]) == 64
        )
    prov = json.loads((out / TEXT_CHECKPOINT / "provenance.json").read_text())
    assert prov["data"]["sentences_per_language"] == {"eng_Latn": 20, "mya_Mymr": 20}


def test_build_model_gives_the_shipped_checkpoint_config():
    """asr.build_model reuses the encoders' Wav2Vec2Config builder; the shipped
    checkpoint's config must come out identical (versions and dtype aside)."""
    from mlcl_core.pretrain.asr import build_model

    shipped = json.loads(
        (CHECKPOINT_DIR / AUDIO_CHECKPOINT / "config.json").read_text()
    )
    vocab = json.loads((CHECKPOINT_DIR / AUDIO_CHECKPOINT / "vocab.json").read_text())
    built = build_model(ASRSettings(), list(vocab)).config.to_diff_dict()
    ignore = {"transformers_version", "architectures", "dtype", "torch_dtype"}
    assert {k: v for k, v in built.items() if k not in ignore} == {
        k: v for k, v in shipped.items() if k not in ignore
    }
