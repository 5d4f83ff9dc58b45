"""Batching: feature caching, dataset/collate shapes and masks, deterministic bucketed loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mlcl_core import batching
from mlcl_core.corpora import load_sib200

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=20)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    """A small character-level WordPiece tokenizer (stand-in for the encoders' own)."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    texts = [t for lang in LANGS for t in corpus.table[lang]]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials))
    from tokenizers.processors import TemplateProcessing
    tok.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


class FrameExtractor:
    """Stand-in audio encoder: one frame of C=3 statistics per 320 samples (20 ms)."""

    calls = 0

    def extract_features(self, wave, wave_mask):
        FrameExtractor.calls += 1
        b, s = wave.shape
        t = s // 320
        frames = wave[:, :t * 320].reshape(b, t, 320)
        feats = torch.stack([frames.mean(-1), frames.std(-1), torch.full((b, t), float(s))], dim=-1)
        feat_mask = wave_mask[:, :t * 320].reshape(b, t, 320).all(-1)
        return feats, feat_mask


def _speech_table(corpus, seconds_of):
    rows = []
    for lang in LANGS:
        for sid in corpus.table["id"]:
            rows.append({"id": str(sid), "split": "x", "lang": lang, "path": f"{lang}/{sid}",
                         "seconds": seconds_of(lang, sid)})
    return pd.DataFrame(rows)


def _fake_wave(path: str) -> np.ndarray:
    lang, sid = path.split("/")
    n = 320 * (5 + (int(sid) * 7 + len(lang)) % 23)  # 5..27 frames
    return np.sin(np.arange(n) * 0.01 * (1 + int(sid) % 5)).astype(np.float32)


def test_audio_features_once_per_clip_unpadded_and_cropped(corpus):
    table = _speech_table(corpus, lambda lang, sid: 0.0)
    FrameExtractor.calls = 0
    feats = batching.audio_features(FrameExtractor(), table, max_seconds=0.3, batch_size=8, load_wave=_fake_wave)
    assert set(feats) == {(lang, str(sid)) for lang in LANGS for sid in corpus.table["id"]}
    assert FrameExtractor.calls == int(np.ceil(len(table) / 8))
    for (lang, sid), f in feats.items():
        n = min(len(_fake_wave(f"{lang}/{sid}")), int(0.3 * 16000)) // 320
        assert f.shape == (n, 3)
        # Padding inside the extractor's batch must not leak into the kept frames.
        assert torch.isfinite(f).all()
    # Length-sorted batches: the padded batch length (feature 2) stays close to each clip's length.
    waste = [f[0, 2].item() / 320 - f.shape[0] for f in feats.values()]
    assert max(waste) < 10


def test_audio_features_rejects_bad_table():
    with pytest.raises(ValueError, match="path"):
        batching.audio_features(FrameExtractor(), pd.DataFrame({"id": ["1"], "lang": ["x"]}), 1.0)


@pytest.fixture(scope="module")
def feats(corpus):
    table = _speech_table(corpus, lambda lang, sid: 0.0)
    return batching.audio_features(FrameExtractor(), table, max_seconds=1.0, load_wave=_fake_wave)


def test_dataset_and_collate_shapes_and_masks(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(corpus, "train", tokenizer, LANGS, max_text_len=24, audio_feats=feats)
    assert len(ds) == 20
    batch = batching.collate([ds[i] for i in range(5)])
    k, b = 3, 5
    assert batch["langs"] == LANGS and batch["ids"] == ds.ids[:5]
    assert batch["y"].shape == (b,) and batch["y"].tolist() == corpus.label_ids("train")[:5]
    l = batch["input_ids"].shape[2]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (k, b, l) and l <= 24
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()
    assert (batch["input_ids"][:, :, 0] == tokenizer.cls_token_id).all()
    t = batch["audio_feats"].shape[2]
    assert batch["audio_feats"].shape == (k, b, t, 3) and batch["audio_mask"].shape == (k, b, t)
    for x, lang in enumerate(LANGS):
        for j in range(b):
            n = feats[(lang, ds.ids[j])].shape[0]
            assert batch["audio_mask"][x, j].sum() == n
            assert torch.equal(batch["audio_feats"][x, j, :n], feats[(lang, ds.ids[j])])
            assert (batch["audio_feats"][x, j, n:] == 0).all()
            toks = tokenizer(corpus.split("train")[lang][j], truncation=True, max_length=24)["input_ids"]
            assert batch["input_ids"][x, j, :len(toks)].tolist() == toks


def test_dataset_text_only_and_errors(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(corpus, "dev", tokenizer, LANGS[:2], max_text_len=16)
    batch = batching.collate([ds[0], ds[1]])
    assert "audio_feats" not in batch and batch["input_ids"].shape[0] == 2
    with pytest.raises(ValueError, match="eng_Latn"):
        batching.ParallelDataset(corpus, "dev", tokenizer, ("eng_Latn",), 16)
    partial = {key: v for key, v in feats.items() if key[0] != "bod_Tibt"}
    with pytest.raises(ValueError, match="no audio features"):
        batching.ParallelDataset(corpus, "dev", tokenizer, LANGS, 16, audio_feats=partial)


def test_loader_deterministic_bucketed_and_complete(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(corpus, "train", tokenizer, LANGS, 24, audio_feats=feats)
    order = lambda loader: [tuple(b["ids"]) for b in loader]  # noqa: E731
    a1, b1 = batching.make_loader(ds, 4, shuffle=True, seed=3), batching.make_loader(ds, 4, shuffle=True, seed=3)
    first, again = order(a1), order(b1)
    assert first == again  # same seed, same batches
    assert order(a1) != first  # the next epoch reshuffles
    a1.batch_sampler.set_epoch(0)
    assert order(a1) == first  # resuming at epoch 0 gives epoch 0's batches
    assert sorted(i for bt in first for i in bt) == sorted(ds.ids)
    assert order(batching.make_loader(ds, 4, shuffle=True, seed=4)) != first
    assert [i for bt in order(batching.make_loader(ds, 4, shuffle=False)) for i in bt] == ds.ids


def test_bucketing_reduces_padding():
    lengths = list(np.random.default_rng(0).integers(1, 200, size=400))
    sampler = batching.BucketBatchSampler(lengths, 8, shuffle=True, seed=0)
    padded = lambda bts: sum(len(bt) * max(lengths[i] for i in bt) for bt in bts)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(400, generator=g).tolist()
    random_batches = [perm[s:s + 8] for s in range(0, 400, 8)]
    assert padded(sampler.batches(0)) < 0.7 * padded(random_batches)


def test_loader_drops_a_lone_last_pair(corpus, tokenizer):
    ds = batching.ParallelDataset(corpus, "train", tokenizer, LANGS, 16)  # 20 sentences
    sizes = [len(b["ids"]) for b in batching.make_loader(ds, 19, shuffle=True, seed=0)]
    assert sizes == [19]
    sizes = [len(b["ids"]) for b in batching.make_loader(ds, 19, shuffle=False)]
    assert sizes == [19, 1]


def test_feature_disk_cache_is_reused_and_keyed_by_extractor_weights(corpus, tmp_path, monkeypatch):
    from mlcl_core.config import make_config
    from mlcl_core.encoders import build_audio_encoder

    cfg = make_config("tiny")
    table = _speech_table(corpus.select(subset=4), lambda lang, sid: 0.0)
    torch.manual_seed(1)
    enc = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    first = batching.audio_features(enc, table, 0.5, load_wave=_fake_wave, cache_dir=tmp_path)
    (first_file,) = tmp_path.glob("*.pt")
    # Another run seed builds the same frozen random backbone (init_seed), so the cache hits.
    torch.manual_seed(2)
    enc2 = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    monkeypatch.setattr(type(enc2), "extract_features", lambda *a, **k: pytest.fail("recomputed"))
    second = batching.audio_features(enc2, table, 0.5, load_wave=_fake_wave, cache_dir=tmp_path)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    monkeypatch.undo()
    # Other extractor weights or another crop length: another cache entry.
    with torch.no_grad():
        next(enc2.backbone.feature_extractor.parameters()).add_(1.0)
    batching.audio_features(enc2, table, 0.5, load_wave=_fake_wave, cache_dir=tmp_path)
    batching.audio_features(enc, table, 0.25, load_wave=_fake_wave, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 3
    # A truncated cache file is recomputed, not trusted.
    first_file.write_bytes(first_file.read_bytes()[:100])
    again = batching.audio_features(enc, table, 0.5, load_wave=_fake_wave, cache_dir=tmp_path)
    assert again.keys() == first.keys() and first_file.stat().st_size > 100


def test_audio_features_do_not_depend_on_the_padding_of_their_batch(corpus):
    """Every clip's kept frames equal its frames extracted alone (no padding) and by hand;
    only feature 2 (the padded batch length, by design of the stand-in) may differ."""
    table = _speech_table(corpus, lambda lang, sid: 0.0)
    batched = batching.audio_features(FrameExtractor(), table, max_seconds=0.3, batch_size=8, load_wave=_fake_wave)
    alone = batching.audio_features(FrameExtractor(), table, max_seconds=0.3, batch_size=1, load_wave=_fake_wave)
    padded = 0
    for key, f in batched.items():
        wave = torch.from_numpy(_fake_wave("/".join(key))[: int(0.3 * 16000)])
        frames = wave[: len(wave) // 320 * 320].reshape(-1, 320)
        torch.testing.assert_close(f[:, :2], torch.stack([frames.mean(-1), frames.std(-1)], -1))
        torch.testing.assert_close(f[:, :2], alone[key][:, :2])
        padded += int(f[0, 2] > alone[key][0, 2])
    assert padded > 0  # some clips really were padded in their batch
