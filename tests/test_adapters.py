"""Adapters: identity at init, only adapter/fusion parameters train, SimAdapter
attention, MetaAdapter's outer update, the preparation stage and config errors (tiny
models, CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from mlcl_core.adapters import (
    BottleneckAdapter,
    SimAdapterFusion,
    meta_step_size,
    meta_train,
    outer_update,
    prepare_adapters,
    split_support_query,
)
from mlcl_core.config import AdapterConfig, make_config
from mlcl_core.encoders import AudioEncoder, build_audio_encoder, wav2vec2_config

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
KINDS = ("simadapter", "metaadapter", "none")


def _adapter_cfg(kind: str, **kw) -> AdapterConfig:
    return make_config(
        "tiny", **{"adapter.kind": kind, **{f"adapter.{k}": v for k, v in kw.items()}}
    ).adapter


def _encoder_and_reference(kind: str) -> tuple[AudioEncoder, torch.nn.Module]:
    from transformers import Wav2Vec2Model

    torch.manual_seed(0)
    backbone = Wav2Vec2Model(wav2vec2_config(make_config("tiny").audio))
    reference = copy.deepcopy(backbone).eval()
    return AudioEncoder(backbone, _adapter_cfg(kind), LANGS).eval(), reference


def _features(
    batch: int = 3, frames: int = 20, channels: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(batch, frames, channels, generator=g)  # (B, T, C)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    mask[-1, frames // 2 :] = False
    return feats, mask


@pytest.mark.parametrize("kind", KINDS)
def test_identity_at_init(kind):
    encoder, reference = _encoder_and_reference(kind)
    # bit-equality with Hugging Face's batch: the backbone itself, not the per-clip
    # memo of its frozen bottom (float-noise close, tests/test_encoders.py)
    encoder.memo_prefix = False
    feats, mask = _features()
    modes = ("single", "fusion") if kind == "simadapter" else ("fusion",)
    with torch.no_grad():
        expected = reference.encoder(
            reference.feature_projection(feats)[0], attention_mask=mask
        ).last_hidden_state
        for mode in modes:
            encoder.set_mode(mode)
            frames, pooled = encoder(feats, mask, "bod_Tibt")
            assert torch.equal(frames, expected), (kind, mode)
        # and the whole path from a wave equals Hugging Face's own forward pass
        wave = torch.randn(1, 6400)
        feats1, mask1 = encoder.extract_features(
            wave, torch.ones_like(wave, dtype=torch.bool)
        )
        normed = (wave - wave.mean()) / torch.sqrt(wave.var(unbiased=False) + 1e-7)
        torch.testing.assert_close(
            encoder(feats1, mask1, "zho_Hans")[0], reference(normed).last_hidden_state
        )
    n = mask.sum(1, keepdim=True)
    torch.testing.assert_close(pooled, (expected * mask[..., None]).sum(1) / n)


@pytest.mark.parametrize("kind", ("simadapter", "metaadapter"))
def test_only_adapter_parameters_change(kind):
    encoder, _ = _encoder_and_reference(kind)
    encoder.train()
    before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    opt = torch.optim.Adam(encoder.adapter_parameters(), lr=1e-2)
    feats, mask = _features()
    # W_up starts at 0: the fusion gets gradients from the second step on
    for _ in range(3):
        opt.zero_grad()
        _, pooled = encoder(feats, mask, "mya_Mymr")
        (pooled.pow(2).sum() + encoder.regularization("mya_Mymr")).backward()
        opt.step()
    changed = {
        n for n, p in encoder.named_parameters() if not torch.equal(p, before[n])
    }
    assert changed and all(".adapters." in n for n in changed), sorted(changed)[:5]
    assert any(".up." in n for n in changed)
    if kind == "simadapter":
        assert any(".fusion." in n for n in changed)
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert all(".adapters." in n for n in trainable)


def test_no_adapters_have_no_parameters():
    encoder, _ = _encoder_and_reference("none")
    assert encoder.adapter_parameters() == []
    assert float(encoder.regularization("zho_Hans")) == 0.0


def test_simadapter_attention_sums_to_one_near_uniform_identity_values():
    torch.manual_seed(0)
    fusion = SimAdapterFusion(dim=128, num_adapters=3)
    assert torch.equal(fusion.value.weight, torch.eye(128))
    assert float(fusion.value_penalty().detach()) == 0.0
    x = torch.randn(2, 5, 128)  # (B, T, D)
    deltas = 0.1 * torch.randn(2, 5, 3, 128)  # (B, T, N, D)
    fused, alpha = fusion(x, deltas)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 5))
    assert float((alpha.detach() - 1 / 3).abs().max()) < 0.05
    torch.testing.assert_close(fused, x + (alpha[..., None] * deltas).sum(2))  # W_V = I
    # inside the encoder the adapters start at 0, so the attention is exactly uniform
    encoder, _ = _encoder_and_reference("simadapter")
    feats, mask = _features()
    encoder(feats, mask, "zho_Hans")
    att = encoder.attention_weights()  # (layers, N)
    assert att.shape == (2, 3)
    torch.testing.assert_close(att, torch.full((2, 3), 1 / 3))
    # guide term = weight * CE(uniform, own language) = 0.1 * log 3; value term 0 at
    # init
    torch.testing.assert_close(
        encoder.regularization("zho_Hans").detach(), 0.1 * torch.log(torch.tensor(3.0))
    )


def test_bottleneck_adapter_is_identity_then_residual():
    adapter = BottleneckAdapter(dim=8, bottleneck=2, activation="gelu")
    z = torch.randn(4, 8)
    assert torch.equal(adapter(z), z)
    assert adapter.down.bias is None and adapter.up.bias is None
    with torch.no_grad():
        adapter.up.weight.fill_(0.5)
        adapter.down.weight.fill_(0.25)
    normed = (z - z.mean(-1, keepdim=True)) / torch.sqrt(
        z.var(-1, unbiased=False, keepdim=True) + 1e-5
    )
    # both bottleneck units alike
    hidden = torch.nn.functional.gelu(0.25 * normed.sum(-1, keepdim=True))
    torch.testing.assert_close(adapter(z), z + 0.5 * 2 * hidden.expand(4, 8))


def test_outer_update_is_mean_of_deltas_times_eps():
    theta0 = {"w": torch.tensor([1.0, 2.0])}
    deltas = [{"w": torch.tensor([0.5, -1.0])}, {"w": torch.tensor([1.5, 0.0])}]
    torch.testing.assert_close(
        outer_update(theta0, deltas, 0.5)["w"], torch.tensor([1.5, 1.75])
    )
    assert meta_step_size(0, 4, 1.0) == 1.0 and meta_step_size(3, 4, 1.0) == 0.25
    with pytest.raises(ValueError, match="at least one"):
        outer_update(theta0, [], 1.0)


def _adam_two_steps(
    w0: torch.Tensor, s: torch.Tensor, q: torch.Tensor, lr: float
) -> torch.Tensor:
    """theta'' - theta' of Adam(betas 0, 0.999) on 0.5||w - s||^2 then 0.5||w - q||^2,
    by hand."""
    g1 = w0 - s
    w1 = w0 - lr * g1 / (g1.abs() + 1e-8)  # first step: m_hat = g, v_hat = g^2
    g2 = w1 - q
    v_hat = (0.999 * 0.001 * g1**2 + 0.001 * g2**2) / (1 - 0.999**2)
    return -lr * g2 / (v_hat.sqrt() + 1e-8)


def test_meta_train_outer_update_equals_mean_of_inner_deltas():
    w0 = torch.tensor([1.0, -2.0, 0.5])
    params = {"w": torch.nn.Parameter(w0.clone())}
    targets = {
        "a": torch.tensor([[0.0, 0.0, 0.0], [3.0, -1.0, 2.0]]),
        "b": torch.tensor([[2.0, -3.0, 1.0], [-1.0, 1.0, 0.0]]),
    }
    # support row 0, query row 1
    batches = {lang: iter([(t, t, t)]) for lang, t in targets.items()}

    def task_loss(lang, half):
        return 0.5 * (params["w"] - half[0][0]).pow(2).sum()

    history = meta_train(
        params, task_loss, batches, num_steps=1, meta_lr=0.5, inner_lr=0.1
    )
    deltas = [_adam_two_steps(w0, t[0], t[1], 0.1) for t in targets.values()]
    torch.testing.assert_close(
        params["w"].detach(), w0 + 0.5 * torch.stack(deltas).mean(0)
    )
    assert history["eps"] == [0.5] and len(history["query_loss"]) == 1
    torch.testing.assert_close(
        torch.tensor(history["support_loss"][0]),
        torch.stack([0.5 * (w0 - t[0]).pow(2).sum() for t in targets.values()]).mean(),
    )


def _batches(encoder: AudioEncoder, n: int = 2) -> dict[str, list]:
    g = torch.Generator().manual_seed(2)
    out = {}
    for lang in encoder.languages:
        out[lang] = [
            (
                torch.randn(4, 12, 64, generator=g),
                torch.ones(4, 12, dtype=torch.bool),
                torch.randint(0, 3, (4,), generator=g),
            )
            for _ in range(n)
        ]
    return out


def test_prepare_simadapter_trains_adapters_then_fusion_only():
    cfg = _adapter_cfg("simadapter", prepare_steps=3, prepare_lr=1e-2)
    encoder = build_audio_encoder(make_config("tiny").audio, cfg, LANGS)
    backbone = {
        n: p.detach().clone()
        for n, p in encoder.named_parameters()
        if ".adapters." not in n
    }
    history = prepare_adapters(
        encoder, _batches(encoder), num_labels=3, cfg=cfg, seed=0
    )
    assert set(history["stage1"]) == set(LANGS) and all(
        len(v) == 3 for v in history["stage1"].values()
    )
    assert len(history["stage2"]) == 9
    att = torch.tensor(history["attention"]["bod_Tibt"])  # (layers, N)
    assert att.shape == (2, 3)
    torch.testing.assert_close(att.sum(-1), torch.ones(2))
    assert all(
        torch.equal(p, backbone[n])
        for n, p in encoder.named_parameters()
        if n in backbone
    )
    assert all(
        ".fusion." in n for n, p in encoder.named_parameters() if p.requires_grad
    )
    assert encoder.route.mode == "fusion"
    # every language adapter moved away from the identity
    for block in encoder.adapter_blocks():
        assert all(float(a.up.weight.abs().sum()) > 0 for a in block.per_lang.values())


def test_prepare_metaadapter_is_seeded_and_moves_only_the_shared_adapter():
    cfg = _adapter_cfg("metaadapter", meta_steps=3, inner_lr=1e-2)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        encoder = build_audio_encoder(make_config("tiny").audio, cfg, LANGS)
        before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
        history = prepare_adapters(
            encoder, _batches(encoder), num_labels=3, cfg=cfg, seed=5
        )
        changed = {
            n for n, p in encoder.named_parameters() if not torch.equal(p, before[n])
        }
        assert changed and all(".adapters.shared." in n for n in changed)
        results.append(history["meta"]["query_loss"])
    assert len(results[0]) == 3 and results[0] == results[1]


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="unknown adapter kind"):
        make_config("tiny", **{"adapter.kind": "lora"})
    with pytest.raises(ValueError, match="prepare_steps"):
        make_config("tiny", **{"adapter.prepare_steps": -1})
    with pytest.raises(ValueError, match="unknown activation"):
        BottleneckAdapter(8, 2, activation="tanh")
    encoder = build_audio_encoder(
        make_config("tiny").audio, _adapter_cfg("metaadapter"), LANGS
    )
    with pytest.raises(ValueError, match="differs"):
        prepare_adapters(encoder, _batches(encoder), 3, _adapter_cfg("simadapter"), 0)
    with pytest.raises(ValueError, match="no batches for bod_Tibt"):
        prepare_adapters(
            encoder,
            {k: v for k, v in _batches(encoder).items() if k != "bod_Tibt"},
            3,
            _adapter_cfg("metaadapter"),
            0,
        )
    one = (
        torch.zeros(1, 4, 64),
        torch.ones(1, 4, dtype=torch.bool),
        torch.zeros(1, dtype=torch.long),
    )
    with pytest.raises(ValueError, match="batch size 1"):
        split_support_query(one)
    none_encoder = build_audio_encoder(
        make_config("tiny").audio, _adapter_cfg("none"), LANGS
    )
    assert prepare_adapters(none_encoder, {}, 3, _adapter_cfg("none"), 0) == {
        "kind": "none"
    }


@pytest.mark.parametrize("kind", ("simadapter", "metaadapter"))
def test_prepare_runs_on_the_given_device_with_backbone_dropout_off(kind, monkeypatch):
    from mlcl_core.adapters import prepare as prep

    seen = []

    def loss(encoder, head, lang, batch):
        seen.append((head.weight.device, encoder.backbone.training, encoder.training))
        return torch.zeros((), requires_grad=True)

    monkeypatch.setattr(prep, "_classify_loss", loss)
    monkeypatch.setattr(prep, "attention_by_language", lambda enc, b: {})
    cfg = _adapter_cfg(kind, prepare_steps=1, meta_steps=1)
    encoder = build_audio_encoder(make_config("tiny").audio, cfg, LANGS)
    # meta tensors hold no numbers: the losses that would be read stay on the CPU
    monkeypatch.setattr(encoder, "regularization", lambda lang: torch.zeros(()))
    prepare_adapters(encoder, _batches(encoder), 3, cfg, 0, device="meta", bf16=True)
    assert seen and all(dev.type == "meta" for dev, _, _ in seen)
    assert next(encoder.parameters()).device.type == "meta"
    # frozen backbone: no dropout, as in joint training; the encoder is in train mode
    assert not any(backbone for _, backbone, _ in seen)
    assert all(training for _, _, training in seen)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prepare_on_cuda_with_bf16():
    cfg = _adapter_cfg("simadapter", prepare_steps=2)
    encoder = build_audio_encoder(make_config("tiny").audio, cfg, LANGS)
    history = prepare_adapters(
        encoder, _batches(encoder), 3, cfg, 0, device="cuda", bf16=True
    )
    assert next(encoder.parameters()).is_cuda
    assert all(
        torch.isfinite(torch.tensor(v)).all() for v in history["stage1"].values()
    )
