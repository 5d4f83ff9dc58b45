"""Batching: dataset/collate shapes and masks, deterministic bucketed loaders,
make_loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FrameExtractor, fake_speech_table, fake_wave
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from mlcl_core import batching
from mlcl_core.config import make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.features import audio_features

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
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials)
    )
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


@pytest.fixture(scope="module")
def feats(corpus):
    table = fake_speech_table(corpus, LANGS)
    return audio_features(FrameExtractor(), table, max_seconds=1.0, load_wave=fake_wave)


def test_dataset_and_collate_shapes_and_masks(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(
        corpus, "train", tokenizer, LANGS, max_text_len=24, audio_feats=feats
    )
    assert len(ds) == 20
    batch = batching.collate([ds[i] for i in range(5)])
    k, b = 3, 5
    assert batch["langs"] == LANGS and batch["ids"] == ds.ids[:5]
    assert (
        batch["y"].shape == (b,)
        and batch["y"].tolist() == corpus.label_ids("train")[:5]
    )
    n_tok = batch["input_ids"].shape[2]
    assert (
        batch["input_ids"].shape == batch["attention_mask"].shape == (k, b, n_tok)
        and n_tok <= 24
    )
    assert (
        batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id
    ).all()
    assert (batch["input_ids"][:, :, 0] == tokenizer.cls_token_id).all()
    t = batch["audio_feats"].shape[2]
    assert batch["audio_feats"].shape == (k, b, t, 3) and batch["audio_mask"].shape == (
        k,
        b,
        t,
    )
    for x, lang in enumerate(LANGS):
        for j in range(b):
            n = feats[(lang, ds.ids[j])].shape[0]
            assert batch["audio_mask"][x, j].sum() == n
            assert torch.equal(batch["audio_feats"][x, j, :n], feats[(lang, ds.ids[j])])
            assert (batch["audio_feats"][x, j, n:] == 0).all()
            toks = tokenizer(
                corpus.split("train")[lang][j], truncation=True, max_length=24
            )["input_ids"]
            assert batch["input_ids"][x, j, : len(toks)].tolist() == toks


def test_dataset_text_only_and_errors(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(corpus, "dev", tokenizer, LANGS[:2], max_text_len=16)
    batch = batching.collate([ds[0], ds[1]])
    assert "audio_feats" not in batch and batch["input_ids"].shape[0] == 2
    with pytest.raises(ValueError, match="eng_Latn"):
        batching.ParallelDataset(corpus, "dev", tokenizer, ("eng_Latn",), 16)
    partial = {key: v for key, v in feats.items() if key[0] != "bod_Tibt"}
    with pytest.raises(ValueError, match="no audio features"):
        batching.ParallelDataset(
            corpus, "dev", tokenizer, LANGS, 16, audio_feats=partial
        )


def test_loader_deterministic_bucketed_and_complete(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(
        corpus, "train", tokenizer, LANGS, 24, audio_feats=feats
    )
    order = lambda loader: [tuple(b["ids"]) for b in loader]  # noqa: E731
    a1, b1 = (
        batching.make_loader(ds, 4, shuffle=True, seed=3),
        batching.make_loader(ds, 4, shuffle=True, seed=3),
    )
    first, again = order(a1), order(b1)
    assert first == again  # same seed, same batches
    assert order(a1) != first  # the next epoch reshuffles
    a1.batch_sampler.set_epoch(0)
    assert order(a1) == first  # resuming at epoch 0 gives epoch 0's batches
    assert sorted(i for bt in first for i in bt) == sorted(ds.ids)
    assert order(batching.make_loader(ds, 4, shuffle=True, seed=4)) != first
    assert [
        i for bt in order(batching.make_loader(ds, 4, shuffle=False)) for i in bt
    ] == ds.ids


def test_bucketing_reduces_padding():
    lengths = list(np.random.default_rng(0).integers(1, 200, size=400))
    sampler = batching.BucketBatchSampler(lengths, 8, shuffle=True, seed=0)

    # noqa: E731
    def padded(bts):
        return sum(len(bt) * max(lengths[i] for i in bt) for bt in bts)

    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(400, generator=g).tolist()
    random_batches = [perm[s : s + 8] for s in range(0, 400, 8)]
    assert padded(sampler.batches(0)) < 0.7 * padded(random_batches)


def test_loader_drops_a_lone_last_pair(corpus, tokenizer):
    ds = batching.ParallelDataset(corpus, "train", tokenizer, LANGS, 16)  # 20 sentences
    sizes = [len(b["ids"]) for b in batching.make_loader(ds, 19, shuffle=True, seed=0)]
    assert sizes == [19]
    sizes = [len(b["ids"]) for b in batching.make_loader(ds, 19, shuffle=False)]
    assert sizes == [19, 1]


def test_make_loaders_builds_every_split_as_configured(corpus, tokenizer, feats):
    cfg = make_config("tiny", languages=LANGS, batch_size=4, max_text_len=16, seed=3)
    loaders = batching.make_loaders(cfg, corpus, tokenizer, feats)
    assert list(loaders) == ["train", "dev", "test"]
    for split, loader in loaders.items():
        assert loader.dataset.ids == [str(i) for i in corpus.split(split)["id"]]
        assert loader.batch_sampler.shuffle == (split == "train")
        assert loader.batch_sampler.seed == 3 and loader.batch_sampler.batch_size == 4
    batch = next(iter(loaders["dev"]))
    assert batch["input_ids"].shape[-1] <= 16 and "audio_feats" in batch
    text = batching.make_loaders(cfg, corpus, tokenizer, languages=LANGS[:1])["test"]
    first = next(iter(text))
    assert first["langs"] == LANGS[:1] and "audio_feats" not in first
    ordered = batching.in_order(loaders["train"])
    assert [i for b in ordered for i in b["ids"]] == loaders["train"].dataset.ids


def test_by_language_regroups_each_languages_audio(corpus, tokenizer, feats):
    ds = batching.ParallelDataset(
        corpus, "dev", tokenizer, LANGS, 16, audio_feats=feats
    )
    batches = list(batching.make_loader(ds, 3, shuffle=False))
    grouped = batching.by_language(batches)
    assert list(grouped) == list(LANGS)
    for x, lang in enumerate(LANGS):
        assert len(grouped[lang]) == len(batches)
        for (f, m, y), batch in zip(grouped[lang], batches):
            assert torch.equal(f, batch["audio_feats"][x]) and torch.equal(
                m, batch["audio_mask"][x]
            )
            assert torch.equal(y, batch["y"])
    text_only = batching.ParallelDataset(corpus, "dev", tokenizer, LANGS, 16)
    with pytest.raises(ValueError, match="needs audio"):
        batching.by_language(batching.make_loader(text_only, 3, shuffle=False))
