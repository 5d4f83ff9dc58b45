"""The text encoder on real tokens only (mlcl_core.encoders.packed): the padded
BertModel's states and gradients, zeros at padding, and the models that fall back."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert
from transformers import BertModel

from mlcl_core.encoders.packed import packed_bert, packs, text_states


def _bert(**over) -> BertModel:
    geometry = {"vocab_size": 60, "hidden_size": 32, "num_hidden_layers": 2}
    geometry |= {"num_attention_heads": 4, "intermediate_size": 48}
    return tiny_bert(0, max_position_embeddings=16, **geometry | over).eval()


def _batch():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 60, (5, 12), generator=g)
    mask = torch.zeros(5, 12, dtype=torch.long)
    for row, n in enumerate([12, 4, 9, 2, 7]):
        mask[row, :n] = 1
    return ids, mask


def test_packed_states_and_gradients_equal_the_padded_models():
    bert, ids, mask = _bert(), *_batch()
    real = mask.bool()
    target = torch.randn(5, 12, 32, generator=torch.Generator().manual_seed(4))
    ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    (ref[real] * target[real]).sum().backward()
    ref_grads = {n: p.grad.clone() for n, p in bert.named_parameters()}
    bert.zero_grad()
    out = packed_bert(bert, ids, mask)
    (out[real] * target[real]).sum().backward()
    torch.testing.assert_close(out[real], ref[real], rtol=1e-5, atol=1e-5)
    assert torch.equal(out[~real], torch.zeros_like(out[~real]))
    for name, p in bert.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name], rtol=1e-4, atol=1e-6)


def test_a_texts_states_do_not_depend_on_its_batch_mates():
    bert, ids, mask = _bert(), *_batch()
    alone = packed_bert(bert, ids[1:2, :4], mask[1:2, :4])
    together = packed_bert(bert, ids, mask)
    torch.testing.assert_close(together[1, :4], alone[0], rtol=1e-5, atol=1e-6)


def test_dropout_is_drawn_in_training_only():
    bert, ids, mask = _bert(hidden_dropout_prob=0.5), *_batch()
    assert torch.equal(packed_bert(bert, ids, mask), packed_bert(bert, ids, mask))
    bert.train()
    assert not torch.equal(packed_bert(bert, ids, mask), packed_bert(bert, ids, mask))


@pytest.mark.parametrize("over", [{"is_decoder": True}, {"chunk_size_feed_forward": 4}])
def test_other_berts_run_their_own_padded_forward(over):
    bert, ids, mask = _bert(**over), *_batch()
    assert packs(_bert()) and not packs(bert)
    ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(text_states(bert, ids, mask), ref)
    padded = text_states(_bert(), ids, mask, path="padded")
    assert not torch.equal(padded[~mask.bool()], torch.zeros_like(padded[~mask.bool()]))


def test_grid_attention_equals_sdpa_in_states_and_gradients():
    """The CPU's own attention (``_GridAttention``, written-out backward) against SDPA
    on the padded layout, through two layers, in training mode without dropout."""
    results = []
    for attention in ("grid", "sdpa"):
        bert, ids, mask = _bert(dropout=0.0).train(), *_batch()
        out = packed_bert(bert, ids, mask, attention)
        target = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
        (out * target).sum().backward()
        results.append((out, {n: p.grad for n, p in bert.named_parameters()}))
    (grid, grid_grads), (sdpa, sdpa_grads) = results
    torch.testing.assert_close(grid, sdpa, rtol=1e-5, atol=1e-6)
    for name, grad in sdpa_grads.items():
        torch.testing.assert_close(grid_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_grid_attention_dropout_backward_matches_autograd(monkeypatch):
    """With attention dropout, the written-out backward equals autograd's through
    softmax(QK^T s + bias) * keep / (1 - p) @ V with the same mask."""
    import mlcl_core.encoders.packed as packed

    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]).bool()
    heads, head_dim, p = 2, 3, 0.4
    grid = packed.HeadGrid(mask, heads, head_dim)
    n, width = int(mask.sum()), heads * head_dim
    keep = torch.rand(3 * heads, 4, 4) >= p
    monkeypatch.setattr(
        packed,
        "keep_scale",
        lambda shape, drop, device, dtype: keep.to(dtype) / (1 - drop),
    )
    qkv = torch.randn(n, 3 * width, dtype=torch.float64, requires_grad=True)
    out = packed._GridAttention.apply(qkv, grid, 0.7, p, True)
    # reference: pad Q, K, V to (R, H, L, d) and attend with plain autograd ops
    padded = torch.zeros(3 * 4, 3 * width, dtype=torch.float64)
    padded = padded.index_copy(0, mask.flatten().nonzero().squeeze(1), qkv)
    q, k, v = padded.view(3, 4, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    scores = 0.7 * q @ k.transpose(-1, -2) - 1e30 * (~mask)[:, None, None, :]
    probs = scores.softmax(-1) * keep.view(3, heads, 4, 4) / (1 - p)
    ref = (probs @ v).transpose(1, 2).reshape(12, width)[mask.flatten()]
    torch.testing.assert_close(out, ref)
    target = torch.randn(out.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * target).sum(), qkv)
    (ref_grad,) = torch.autograd.grad((ref * target).sum(), qkv)
    torch.testing.assert_close(grad, ref_grad)


def test_an_unknown_text_path_is_refused():
    with pytest.raises(ValueError, match="text path 'fast'"):
        text_states(_bert(), *_batch(), path="fast")


def test_the_attention_grid_pads_each_length_block_to_its_own_longest_text():
    """Texts sorted by length into blocks (shortest first), each padded to its own
    longest text; every (token, head) has its own grid row; the result and its
    gradient equal one grid padded to the batch's longest text."""
    import mlcl_core.encoders.packed as packed

    _, mask = _batch()  # lengths 12, 4, 9, 2, 7
    grid = packed.HeadGrid(mask.bool(), 2, 3, blocks=3)
    # blocks of (2, 4), (7, 9), (12): n_b = texts * heads groups of L_b rows
    assert [(n, length) for _, n, length in grid.blocks] == [(4, 4), (4, 9), (2, 12)]
    assert grid.size == 4 * 4 + 4 * 9 + 2 * 12
    assert len(set(grid.qkv_rows.tolist())) == 3 * 2 * int(mask.sum())
    torch.manual_seed(0)
    qkv = torch.randn(int(mask.sum()), 18, dtype=torch.float64, requires_grad=True)
    outs = []
    for blocks in (3, 1):
        g = packed.HeadGrid(mask.bool(), 2, 3, blocks)
        out = packed._GridAttention.apply(qkv, g, 0.5, 0.0, True)
        (grad,) = torch.autograd.grad(out.pow(2).sum(), qkv)
        outs.append((out, grad))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])


def test_the_grid_layout_is_the_same_in_torch_and_numpy():
    """HeadGrid's index arithmetic runs in numpy for a CPU mask and in torch on other
    devices (one block): both give the same rows and key masks."""
    import numpy as np

    import mlcl_core.encoders.packed as packed

    _, mask = _batch()
    mask = mask.bool()
    rows, qkv, keys, blocks, size = packed._layout(mask, 2, 1, torch)
    np_rows, np_qkv, np_keys, np_blocks, np_size = packed._layout(
        mask.numpy(), 2, 1, np
    )
    assert torch.equal(rows, torch.from_numpy(np_rows))
    assert torch.equal(qkv, torch.from_numpy(np_qkv))
    assert [k.tolist() for k in keys] == [k.tolist() for k in np_keys]
    assert (blocks, size) == (np_blocks, np_size) == ([(0, 10, 12)], 120)
