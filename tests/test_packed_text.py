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
    padded = text_states(_bert(), ids, mask, packed=False)
    assert not torch.equal(padded[~mask.bool()], torch.zeros_like(padded[~mask.bool()]))
