"""Encoders: the corpus tokenizer keeps vowel signs, local checkpoints load offline, the
frozen feature extractor ignores padding, bad input fails clearly."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch

from mlcl_core.config import make_config
from mlcl_core.encoders import (
    build_audio_encoder,
    build_text_encoder,
    train_wordpiece_tokenizer,
    wav2vec2_config,
)

TIBETAN = "བོད་ཀྱི་སྐད་ཡིག་ནི་གལ་ཆེན་པོ་རེད།"
BURMESE = "မြန်မာဘာသာစကားသည် အရေးကြီးသည်။"
CHINESE = "中文文本分类测试。"
TEXTS = [TIBETAN, BURMESE, CHINESE, "Latin Text With Capitals"] * 4


def _roundtrip(tok, text: str) -> str:
    return tok.decode(tok(text)["input_ids"], skip_special_tokens=True).replace(" ", "")


def test_tokenizer_keeps_vowel_signs_after_save_and_reload(tmp_path):
    from transformers import AutoTokenizer

    tok = train_wordpiece_tokenizer(TEXTS, vocab_size=300)
    tok.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for t in (tok, reloaded):
        assert [s for s in t.special_tokens_map.values()]  # the BERT specials are set
        assert t.unk_token_id not in t(TIBETAN + BURMESE)["input_ids"]
        for text in (TIBETAN, BURMESE, "Capitals"):
            assert _roundtrip(t, text) == text.replace(" ", "")
    # the Tibetan vowel sign i (U+0F72) and Burmese vowel sign aa (U+102C) survive as
    # pieces
    pieces = "".join(reloaded.tokenize(TIBETAN + " " + BURMESE))
    assert "\u0f72" in pieces and "\u102c" in pieces
    assert reloaded.tokenize("中文") == ["中", "文"]


def test_tokenizer_rejects_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece_tokenizer(TEXTS, vocab_size=3)
    with pytest.raises(ValueError, match="no non-empty texts"):
        train_wordpiece_tokenizer(["", " "], vocab_size=100)


def test_text_encoder_from_config_needs_texts():
    cfg = make_config("tiny")
    with pytest.raises(ValueError, match="texts"):
        build_text_encoder(cfg.text)
    tok, bert = build_text_encoder(cfg.text, TEXTS)
    assert bert.config.vocab_size == len(tok)
    assert bert.config.hidden_size == cfg.text.hidden_size
    out = bert(**tok([TIBETAN, BURMESE], padding=True, return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == cfg.text.hidden_size


def test_from_pretrained_local_checkpoints_offline(tmp_path, monkeypatch):
    """A tiny random-init BERT and wav2vec2 (saved as ForCTC, like base-960h) load by
    path."""
    from transformers import Wav2Vec2ForCTC

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny = make_config("tiny")
    tok, bert = build_text_encoder(tiny.text, TEXTS)
    tok.save_pretrained(tmp_path / "bert")
    bert.save_pretrained(tmp_path / "bert")
    ctc = Wav2Vec2ForCTC(wav2vec2_config(tiny.audio))
    ctc.save_pretrained(tmp_path / "w2v")
    cfg = make_config(
        "tiny",
        **{
            "text.name_or_path": str(tmp_path / "bert"),
            "text.pretrained": True,
            "audio.name_or_path": str(tmp_path / "w2v"),
            "audio.pretrained": True,
        },
    )
    tok2, bert2 = build_text_encoder(cfg.text)
    assert tok2.tokenize(TIBETAN) == tok.tokenize(TIBETAN)
    for name, p in bert.state_dict().items():
        assert torch.equal(p, bert2.state_dict()[name]), name
    audio = build_audio_encoder(cfg.audio, cfg.adapter, cfg.data.languages)
    assert torch.equal(
        audio.backbone.feature_projection.projection.weight,
        ctc.wav2vec2.feature_projection.projection.weight,
    )
    assert audio.backbone.config.layerdrop == 0.0
    # pretrained=False: the checkpoint's geometry at random init
    cfg_rand = make_config("tiny", **{"audio.name_or_path": str(tmp_path / "w2v")})
    rand = build_audio_encoder(cfg_rand.audio, cfg.adapter, cfg.data.languages)
    assert not torch.equal(
        rand.backbone.feature_projection.projection.weight,
        ctc.wav2vec2.feature_projection.projection.weight,
    )
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_extract_features_ignores_padding_and_is_frozen():
    cfg = make_config("tiny")
    audio = build_audio_encoder(cfg.audio, cfg.adapter, cfg.data.languages)
    torch.manual_seed(0)
    wave = torch.randn(2, 8000)
    mask = torch.ones(2, 8000, dtype=torch.bool)
    mask[1, 5000:] = False
    feats, feat_mask = audio.extract_features(wave, mask)
    alone, alone_mask = audio.extract_features(wave[1:, :5000], mask[1:, :5000])
    n = int(alone_mask.sum())
    # 8000 samples through kernels (10,4,4,4,4), strides (5,4,4,4,4): 1599, 399, 99, 24,
    # 6 frames
    assert feats.shape == (2, 6, cfg.audio.conv_dim[-1])
    assert int(feat_mask[1].sum()) == n
    torch.testing.assert_close(feats[1, :n], alone[0, :n])
    assert float(feats[1, n:].abs().sum()) == 0.0
    assert not feats.requires_grad
    assert all(
        not p.requires_grad for p in audio.backbone.feature_extractor.parameters()
    )


def test_audio_encoder_rejects_bad_input():
    cfg = make_config("tiny")
    audio = build_audio_encoder(cfg.audio, cfg.adapter, cfg.data.languages)
    with pytest.raises(ValueError, match="unknown language"):
        audio(torch.zeros(1, 4, 64), torch.ones(1, 4, dtype=torch.bool), "eng_Latn")
    with pytest.raises(ValueError, match=r"\(B, S\)"):
        audio.extract_features(torch.zeros(8000), torch.ones(8000, dtype=torch.bool))
    with pytest.raises(ValueError, match="no valid samples"):
        audio.extract_features(
            torch.zeros(1, 800), torch.zeros(1, 800, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="adapter mode"):
        audio.set_mode("both")


def _audio_batch(seed: int = 0):
    """48 rows of random cached features (B, T, C) of 10..49 frames, and their mask."""
    from mlcl_core.padding import pad

    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(10, 50, (48,), generator=gen).tolist()
    feats, mask = pad([torch.randn(n, 64, generator=gen) for n in lengths])
    return feats, mask.bool()


def test_frozen_prefix_memo_gives_the_backbones_frames_and_rng_stream():
    """The per-clip memo of the frozen bottom (issue 8) computes what the backbone
    computes from the padded batch: frames and gradients equal up to float noise, the
    same random numbers drawn, and it steps aside when the backbone could change."""
    cfg = make_config("tiny")
    langs = cfg.data.languages
    audio = build_audio_encoder(cfg.audio, cfg.adapter, langs)
    audio.train()
    audio.backbone.eval()  # as MLCLModel.train keeps a frozen backbone
    with torch.no_grad():  # a trained adapter, so that the layers above it matter
        for p in audio.adapter_parameters():
            p.normal_(0, 0.1)
    feats, mask = _audio_batch()
    names = [lang for lang in langs for _ in range(16)]
    assert audio.frozen_prefix.applies(feats)
    results = {}
    for memo in (False, True, True):  # the second memo pass reads stored states
        audio.memo_prefix = memo
        audio.zero_grad()
        torch.manual_seed(3)
        frames, pooled = audio(feats, mask, names)
        pooled.pow(2).sum().backward()
        grads = [p.grad.clone() for p in audio.adapter_parameters()]
        results[memo] = (frames * mask[..., None], pooled, grads, torch.rand(4))
    assert len(audio.frozen_prefix.states) == len(feats)
    plain, memo = results[False], results[True]
    torch.testing.assert_close(memo[0], plain[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(memo[1], plain[1], rtol=0, atol=1e-5)
    for g_memo, g_plain in zip(memo[2], plain[2], strict=True):
        torch.testing.assert_close(g_memo, g_plain, rtol=1e-4, atol=1e-6)
    assert torch.equal(memo[3], plain[3])  # the same random numbers follow
    # The same weights loaded again (the trainer's best epoch): the states are kept.
    stored = dict(audio.frozen_prefix.states)
    audio.load_state_dict({k: v.clone() for k, v in audio.state_dict().items()})
    audio(feats, mask, names)
    assert all(audio.frozen_prefix.states[k] is v for k, v in stored.items())
    # A frozen weight changed in place: the stored states are recomputed.
    with torch.no_grad():
        audio.backbone.encoder.pos_conv_embed.conv.bias.add_(1.0)
    audio.memo_prefix = False
    changed = audio(feats, mask, names)[1]
    audio.memo_prefix = True
    torch.testing.assert_close(audio(feats, mask, names)[1], changed, atol=1e-5, rtol=0)
    # Dropout on, or a trainable backbone: the backbone runs as before.
    audio.train()
    assert not audio.frozen_prefix.applies(feats)
    free = build_audio_encoder(
        replace(cfg.audio, freeze_backbone=False), cfg.adapter, langs
    ).eval()
    assert not free.frozen_prefix.applies(feats)


def _stored_encoder(cfg, root, seed: int = 0):
    """A tiny audio encoder in eval mode with its prefix states stored under ``root``;
    seeded, so that two calls give the same adapters too."""
    torch.manual_seed(seed)
    audio = build_audio_encoder(cfg.audio, cfg.adapter, cfg.data.languages).eval()
    assert audio.frozen_prefix.cache_root is None  # memory only unless asked
    audio.frozen_prefix.cache_root = root
    return audio


def _counting(audio, monkeypatch) -> list[int]:
    """Count the clips whose prefix ``audio`` computes (rather than reads)."""
    prefix, calls = audio.frozen_prefix, []
    compute = prefix._compute
    monkeypatch.setattr(
        prefix, "_compute", lambda data: calls.append(1) or compute(data)
    )
    return calls


def test_frozen_prefix_disk_store_is_shared_by_encoders_with_the_same_weights(
    tmp_path, monkeypatch
):
    """A second encoder with the same frozen weights reads every clip's states from
    the disk store without computing them, bitwise; other weights use another folder."""
    cfg = make_config("tiny")
    langs = cfg.data.languages
    names = [lang for lang in langs for _ in range(16)]
    feats, mask = _audio_batch()
    first = _stored_encoder(cfg, tmp_path)
    frames, pooled = first(feats, mask, names)
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("prefix-")
    assert len(list(folder.glob("*.npy"))) == len(feats)
    assert not list(folder.glob(".*"))  # no temporary file left behind
    second = _stored_encoder(cfg, tmp_path)
    calls = _counting(second, monkeypatch)
    frames2, pooled2 = second(feats, mask, names)
    assert calls == []
    assert torch.equal(frames2, frames) and torch.equal(pooled2, pooled)
    for key, states in first.frozen_prefix.states.items():
        assert torch.equal(second.frozen_prefix.states[key], states)
    # Other frozen weights: a folder of their own, every clip computed there.
    other = _stored_encoder(
        replace(cfg, audio=replace(cfg.audio, init_seed=1)), tmp_path
    )
    other_calls = _counting(other, monkeypatch)
    other(feats, mask, names)
    assert len(other_calls) == len(feats)
    folders = sorted(p for p in tmp_path.iterdir())
    assert len(folders) == 2 and folder in folders
    assert len(list(folder.glob("*.npy"))) == len(feats)


def test_frozen_prefix_recomputes_and_rewrites_a_broken_file(tmp_path, monkeypatch):
    """A truncated file, one of garbage and one of the wrong shape are computed again
    and written again; the others are read."""
    import numpy as np

    cfg = make_config("tiny")
    names = [lang for lang in cfg.data.languages for _ in range(16)]
    feats, mask = _audio_batch()
    frames = _stored_encoder(cfg, tmp_path)(feats, mask, names)[0]
    (folder,) = tmp_path.iterdir()
    files = sorted(folder.glob("*.npy"))
    before = {path: np.load(path) for path in files}
    files[0].write_bytes(files[0].read_bytes()[:-100])
    files[1].write_bytes(b"not an array")
    np.save(files[2], np.zeros((3, 5), np.float32))
    second = _stored_encoder(cfg, tmp_path)
    calls = _counting(second, monkeypatch)
    assert torch.equal(second(feats, mask, names)[0], frames)
    assert len(calls) == 3
    for path, held in before.items():  # rewritten whole, the others untouched
        assert np.array_equal(np.load(path), held)
        assert torch.equal(
            second.frozen_prefix.states[bytes.fromhex(path.stem)],
            torch.from_numpy(held),
        )
