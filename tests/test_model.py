"""The MLCL model on a real SIB-200 batch with espeak speech: loss, gradients, config
errors."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from conftest import SMALL_MODEL

from mlcl_core.batching import ParallelDataset, collate, make_loader
from mlcl_core.config import make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.features import corpus_features
from mlcl_core.model import MLCLModel, build_mlcl

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
SMALL = {
    **SMALL_MODEL,
    "max_seconds": 2.0,
    "max_text_len": 32,
    "meta_steps": 1,
    "prepare_steps": 1,
}


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=6)


@pytest.fixture(scope="module")
def speech_table(corpus, tmp_path_factory):
    from mlcl_core.speech import synthesize_corpus

    return synthesize_corpus(
        corpus,
        backend="espeak",
        cache_dir=str(tmp_path_factory.mktemp("speech")),
        workers=1,
        progress=False,
    )


def _build(corpus, speech_table, **over):
    cfg = make_config("tiny", **{**SMALL, **over})
    model = build_mlcl(cfg, corpus)
    feats = corpus_features(cfg, corpus, speech_table, model.audio_encoder)
    ds = ParallelDataset(
        corpus, "train", model.tokenizer, LANGS, cfg.data.max_text_len, feats
    )
    return cfg, model, ds


@pytest.mark.parametrize("kind", ["simadapter", "metaadapter"])
def test_forward_backward_on_a_real_batch(corpus, speech_table, kind):
    cfg, model, ds = _build(corpus, speech_table, **{"adapter.kind": kind})
    batch = collate([ds[i] for i in range(len(ds))])
    model.train()
    out = model(batch)
    k, b = 3, len(ds)
    assert out.logits.shape == (
        k * b,
        len(corpus.labels),
    ) and out.y.shape == out.group.shape == (k * b,)
    assert out.group.tolist() == [x for x in range(k) for _ in range(b)]
    assert out.y.tolist() == corpus.label_ids("train") * k
    assert (
        out.extras["text_emb"].shape
        == out.extras["speech_emb"].shape
        == (k, b, cfg.loss.proj_dim)
    )
    assert torch.allclose(
        out.extras["text_emb"].norm(dim=-1), torch.ones(k, b), atol=1e-5
    )
    assert math.isfinite(out.loss.item()) and set(out.parts) == {
        "ce",
        "mcl",
        "lcl",
        "reg",
    }
    a, be = cfg.loss.alpha, cfg.loss.beta
    p = out.parts
    assert out.loss.item() == pytest.approx(
        (1 - a - be) * p["ce"] + a * p["mcl"] + be * p["lcl"] + p["reg"], rel=1e-5
    )
    if kind == "simadapter":
        assert p["reg"] >= 0.0
    out.loss.backward()

    def grads(module):
        return [
            q.grad
            for q in module.parameters()
            if q.grad is not None and q.grad.abs().sum() > 0
        ]

    assert grads(model.text_encoder) and grads(model.fusion) and grads(model.classifier)
    assert grads(model.text_head) and grads(model.speech_head)
    adapters = [
        q
        for q in model.audio_encoder.adapter_parameters()
        if q.grad is not None and q.grad.abs().sum() > 0
    ]
    assert adapters
    backbone = model.audio_encoder.backbone
    adapter_ids = {id(q) for q in model.audio_encoder.adapter_parameters()}
    frozen = [q for q in backbone.parameters() if id(q) not in adapter_ids]
    assert frozen and all(q.grad is None for q in frozen)
    assert all(not q.requires_grad for q in backbone.feature_extractor.parameters())


def test_prepare_then_a_training_step_lowers_the_loss(corpus, speech_table):
    torch.manual_seed(0)
    cfg, model, ds = _build(
        corpus,
        speech_table,
        **{"adapter.kind": "metaadapter", "alpha": 0.3, "beta": 0.3},
    )
    history = model.prepare(make_loader(ds, 3, shuffle=True, seed=0))
    assert history["kind"] == "metaadapter"
    batch = collate([ds[i] for i in range(len(ds))])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.eval()  # no dropout: compare the same function before and after
    first = model(batch).loss.item()
    for _ in range(5):
        opt.zero_grad()
        model(batch).loss.backward()
        opt.step()
    assert model(batch).loss.item() < first


def test_single_sentence_batch_has_no_contrastive_terms(corpus, speech_table):
    cfg, model, ds = _build(corpus, speech_table, **{"adapter.kind": "none"})
    out = model.eval()(collate([ds[0]]))
    assert (
        out.parts["mcl"] == 0.0 and out.parts["lcl"] == 0.0 and out.logits.shape[0] == 3
    )


@pytest.mark.parametrize(
    "over, match",
    [
        ({"alpha": -0.1}, "alpha must be >= 0"),
        ({"beta": -0.1}, "beta must be >= 0"),
        ({"alpha": 0.5, "beta": 0.5}, "alpha \\+ beta must be < 1"),
        ({"tau": 0.0}, "tau must be > 0"),
        ({"tau": -1.0}, "tau must be > 0"),
        ({"adapter.kind": "loraadapter"}, "unknown adapter kind"),
    ],
)
def test_config_errors(over, match):
    with pytest.raises(ValueError, match=match):
        make_config("tiny", **over)


def test_build_rejects_languages_missing_from_corpus(corpus):
    # (speech missing for a language or sentence: tests/test_features.py)
    with pytest.raises(ValueError, match="not in corpus"):
        build_mlcl(make_config("tiny", languages=("zho_Hans", "eng_Latn")), corpus)


def test_build_returns_the_model_alone_with_its_tokenizer(corpus):
    model = build_mlcl(make_config("tiny", **SMALL), corpus)
    assert isinstance(model, MLCLModel) and not hasattr(model, "timings")
    assert model.tokenizer is not None and model.tokenizer.pad_token == "[PAD]"


def test_build_stores_the_frozen_audio_prefix_beside_the_features(corpus, tmp_path):
    """The frozen prefix's disk store lives under ``feature_cache_dir``; ``None``
    keeps it in memory only."""
    cfg = make_config("tiny", **SMALL, feature_cache_dir=str(tmp_path))
    model = build_mlcl(cfg, corpus).eval()
    assert model.audio_encoder.frozen_prefix.cache_root == str(tmp_path)
    feats = torch.randn(2, 12, model.audio_encoder.feature_dim)
    model.audio_encoder(feats, torch.ones(2, 12, dtype=torch.bool), LANGS[0])
    (folder,) = tmp_path.glob("prefix-*")
    assert len(list(folder.glob("*.npy"))) == 2
    off = replace(cfg, speech=replace(cfg.speech, feature_cache_dir=None))
    assert build_mlcl(off, corpus).audio_encoder.frozen_prefix.cache_root is None


def test_forward_rejects_text_only_batches_and_unknown_languages(corpus, speech_table):
    cfg, model, ds = _build(corpus, speech_table, **{"adapter.kind": "none"})
    batch = collate([ds[0], ds[1]])
    text_only = {
        k: v for k, v in batch.items() if k not in ("audio_feats", "audio_mask")
    }
    with pytest.raises(ValueError, match="no audio_feats"):
        model(text_only)
    with pytest.raises(ValueError, match="unknown to the model"):
        model({**batch, "langs": ("zho_Hans", "bod_Tibt", "eng_Latn")})
    # the rejected batches left the model usable: the valid batch still gives one row
    # per (lang, sentence)
    out = model.eval()(batch)
    assert (
        out.logits.shape == (3 * 2, len(corpus.labels))
        and torch.isfinite(out.logits).all()
    )


def test_frozen_audio_backbone_runs_without_dropout(corpus, speech_table):
    cfg, model, ds = _build(corpus, speech_table, **{"adapter.kind": "metaadapter"})
    model.train()
    assert model.training and model.text_encoder.training and model.fusion.training
    assert not model.audio_encoder.backbone.training
    _, unfrozen, _ = _build(
        corpus, speech_table, **{"adapter.kind": "none", "freeze_backbone": False}
    )
    assert unfrozen.train().audio_encoder.backbone.training


def test_simadapter_value_penalty_counts_once_per_step(corpus, speech_table):
    """The W_V penalty is shared by all languages: K languages in a batch must not
    weight it K times."""
    cfg, model, ds = _build(
        corpus, speech_table, **{"adapter.kind": "simadapter", "sim_guide_weight": 0.0}
    )
    blocks = model.audio_encoder.adapter_blocks()
    with torch.no_grad():
        for block in blocks:
            block.fusion.value.weight.add_(0.1)  # move W_V away from the identity
    penalty = sum(float(block.fusion.value_penalty()) for block in blocks)
    assert penalty > 0
    model.eval()
    out = model(collate([ds[i] for i in range(len(ds))]))
    assert out.parts["reg"] == pytest.approx(
        cfg.adapter.sim_value_reg * penalty, rel=1e-5
    )


def test_simadapter_regulariser_by_hand(corpus, speech_table):
    """parts["reg"] is the mean over the batch's languages of
    sim_value_reg * sum ||I - W_V||^2
    + sim_guide_weight * mean_layers -log(mean attention on the own language)."""
    cfg, model, ds = _build(corpus, speech_table, **{"adapter.kind": "simadapter"})
    enc = model.audio_encoder
    enc.set_mode("fusion")
    blocks = enc.adapter_blocks()
    torch.manual_seed(0)
    with torch.no_grad():
        for b in blocks:
            b.fusion.value.weight.add_(
                0.05
            )  # W_V = I + 0.05: each block's penalty is D^2 * 0.05^2
            # away from the near-uniform initial attention, so the own language matters
            for q in [
                *b.per_lang.parameters(),
                b.fusion.query.weight,
                b.fusion.key.weight,
            ]:
                q.normal_(0.0, 0.3)
    batch = collate([ds[i] for i in range(len(ds))])
    model.eval()
    reg = model(batch).parts["reg"]
    d = blocks[0].fusion.value.weight.shape[0]
    value = len(blocks) * d * d * 0.05**2
    guides = []
    for x, lang in enumerate(LANGS):
        enc(batch["audio_feats"][x], batch["audio_mask"][x], lang)
        attention = enc.attention_weights()  # (layers, languages)
        assert attention.shape == (len(blocks), 3)
        guides.append(-attention[:, enc.languages.index(lang)].log().mean().item())
    assert max(abs(g - math.log(3)) for g in guides) > 0.05  # not uniform
    a = cfg.adapter
    expected = a.sim_value_reg * value + a.sim_guide_weight * sum(guides) / 3
    assert (
        reg == pytest.approx(expected, rel=1e-4) and reg > a.sim_value_reg * value > 0
    )
