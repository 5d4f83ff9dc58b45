"""The CPU dropout of mlcl_core.encoders.dropout: its mask's rate and independence,
seeding, scaling, and the swap into built encoders."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mlcl_core.encoders.dropout import (
    Dropout,
    dropout,
    keep_mask,
    keep_scale,
    swap_dropout,
)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_mask_keeps_each_element_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    keep = keep_mask((1000, 999), p, "cpu").double()
    sd = (p * (1 - p) / keep.numel()) ** 0.5
    assert abs(keep.mean().item() - (1 - p)) < 5 * sd
    # the four 16-bit numbers read from one 64-bit draw are independent of each other
    flat = keep.flatten()[: 4 * (keep.numel() // 4)].view(-1, 4)
    for a, b in itertools.combinations(range(4), 2):
        both = (flat[:, a] * flat[:, b]).mean().item()
        assert abs(both - (1 - p) ** 2) < 5 * (1 / flat.shape[0]) ** 0.5


def test_the_drop_rate_is_p_to_sixteen_bits_and_each_field_is_used():
    """Every one of the four fields of a word drops at the rate round(p * 2**16) /
    2**16 (the top field, whose bit 63 random_ must also draw, included); a p whose
    rate rounds to 1 keeps nothing."""
    torch.manual_seed(1)
    keep = keep_mask((4 * 250_000,), 0.5, "cpu").view(-1, 4).double()
    sd = (0.25 / keep.shape[0]) ** 0.5
    assert ((keep.mean(0) - 0.5).abs() < 5 * sd).all()
    assert not keep_mask((10,), 1 - 2**-18, "cpu").any()
    factor = keep_scale((1000,), 0.2, "cpu", torch.float64)
    assert factor.dtype == torch.float64
    assert set(factor.unique().tolist()) == {0.0, 1 / 0.8}


def test_the_mask_follows_the_seed():
    torch.manual_seed(3)
    first = keep_mask((50, 7), 0.3, "cpu")
    torch.manual_seed(3)
    assert torch.equal(keep_mask((50, 7), 0.3, "cpu"), first)
    assert not torch.equal(keep_mask((50, 7), 0.3, "cpu"), first)


def test_dropout_scales_the_kept_values_and_passes_their_gradient():
    x = torch.randn(40, 30, requires_grad=True)
    y = dropout(x, 0.25)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.75)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.75)
    assert 0.6 < kept.float().mean().item() < 0.9


def test_eval_and_zero_p_leave_the_input_and_p_one_drops_all():
    x = torch.randn(5, 4)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    module = Dropout(0.5).eval()
    assert module(x) is x


def test_swap_dropout_replaces_every_dropout_and_back():
    from conftest import tiny_bert

    bert = tiny_bert(0, dropout=0.2)
    before = {k: v.clone() for k, v in bert.state_dict().items()}
    swap_dropout(bert)
    drops = [m for m in bert.modules() if isinstance(m, nn.Dropout)]
    assert drops and all(type(m) is Dropout and m.p == 0.2 for m in drops)
    assert bert.state_dict().keys() == before.keys()
    swap_dropout(bert, nn.Dropout)
    assert all(
        type(m) is nn.Dropout for m in bert.modules() if isinstance(m, nn.Dropout)
    )


def test_built_text_encoders_use_the_cpu_dropout(tmp_path, monkeypatch):
    import mlcl_core.encoders.text as text
    from mlcl_core.config import TextEncoderConfig

    train = text.train_wordpiece_tokenizer
    monkeypatch.setattr(
        text,
        "train_wordpiece_tokenizer",
        lambda texts, size: train(texts, size, cache_dir=tmp_path),
    )
    cfg = TextEncoderConfig(vocab_size=60, hidden_size=16, num_layers=1, num_heads=2)
    _, bert = text.build_text_encoder(cfg, ["a b c d", "e f g h"] * 5)
    assert any(type(m) is Dropout for m in bert.modules())
    assert not any(type(m) is nn.Dropout for m in bert.modules())
