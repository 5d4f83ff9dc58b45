"""BERT on the real tokens only: the text encoder without its padding (issue 8).

A batch of K x B texts is padded to its longest text, and in the tiny profile Tibetan
texts reach the 64-token limit in 70 % of sentences while Chinese and Burmese average
43 and 36 tokens: about a fifth of every batch's tokens are padding (22 % over an epoch
of SIB-200's training batches). Every BERT operation except attention works on one
token at a time (embeddings, the Q/K/V and output projections, layer norms, the
feed-forward block, dropout), so :func:`packed_bert` runs those on the N real tokens
only, packed into an (N, D) matrix, and pads just for attention (each text attends to
its own tokens, as with the padding mask). It uses the ``BertModel``'s own modules and
weights, so pre-trained checkpoints, their gradients and the optimiser see the same
parameters.

The states of real tokens equal ``BertModel(input_ids, attention_mask)``'s up to float
rounding (``tests/test_encoders.py``); padded positions are zero (Hugging Face leaves
values there that nothing reads: pooling, the fusion and the losses mask them). With
dropout on, the masks are drawn over the packed tokens, so the random draws differ from
the padded model's (the same distribution). :func:`text_states` takes this path for a
plain encoder-only ``BertModel`` with absolute positions, and the padded model for
anything else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def packs(encoder: nn.Module) -> bool:
    """Whether :func:`packed_bert` computes ``encoder``'s forward: a ``BertModel`` that
    is no decoder, has absolute position embeddings and no feed-forward chunking."""
    from transformers import BertModel

    cfg = getattr(encoder, "config", None)
    return (
        isinstance(encoder, BertModel)
        and not cfg.is_decoder
        and not cfg.add_cross_attention
        and getattr(cfg, "position_embedding_type", "absolute") == "absolute"
        and not cfg.chunk_size_feed_forward
    )


def packed_bert(
    bert: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """``bert(input_ids, attention_mask).last_hidden_state`` (R, L, D), computed on the
    real tokens: (R, L) ids and mask in, zeros at padded positions out."""
    r, n_tok = input_ids.shape
    mask = attention_mask.bool()
    real = mask.flatten().nonzero().squeeze(1)  # (N,) flat index of every real token
    positions = torch.arange(n_tok, device=input_ids.device).repeat(r)[real]  # (N,)
    emb = bert.embeddings
    x = emb.word_embeddings(input_ids.flatten()[real])  # (N, D)
    x = x + emb.token_type_embeddings(torch.zeros_like(positions))
    x = emb.dropout(emb.LayerNorm(x + emb.position_embeddings(positions)))
    keys = mask[:, None, None, :]  # (R, 1, 1, L): a text attends to its own tokens
    for layer in bert.encoder.layer:
        x = _layer(layer, x, real, keys, (r, n_tok))
    dim = x.shape[-1]
    return x.new_zeros(r * n_tok, dim).index_copy(0, real, x).view(r, n_tok, dim)


def _layer(
    layer: nn.Module,
    x: torch.Tensor,
    real: torch.Tensor,
    keys: torch.Tensor,
    shape: tuple[int, int],
) -> torch.Tensor:
    """One ``BertLayer`` on packed tokens x (N, D): attention over the padded (R, L)
    layout, everything else on the N tokens."""
    att = layer.attention.self
    r, n_tok = shape
    n, dim = x.shape
    heads, head_dim = att.num_attention_heads, att.attention_head_size
    # Q, K and V in one matrix product: (N, 3D)
    weight = torch.cat([att.query.weight, att.key.weight, att.value.weight])
    bias = torch.cat([att.query.bias, att.key.bias, att.value.bias])
    qkv = F.linear(x, weight, bias)
    padded = qkv.new_zeros(r * n_tok, 3 * dim).index_copy(0, real, qkv)
    # (3, R, H, L, d)
    q, k, v = padded.view(r, n_tok, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=keys,
        dropout_p=att.dropout.p if att.training else 0.0,
        scale=att.scaling,
    )  # (R, H, L, d)
    out = out.transpose(1, 2).reshape(r * n_tok, dim)[real]  # (N, D)
    x = layer.attention.output(out, x)  # dense, dropout, LayerNorm(+ x)
    return layer.output(layer.intermediate(x), x)


def text_states(
    encoder: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    packed: bool = True,
) -> torch.Tensor:
    """The token states (R, L, D) of a text encoder: :func:`packed_bert` where it
    applies (and ``packed``), else the encoder's own padded forward."""
    if packed and packs(encoder):
        return packed_bert(encoder, input_ids, attention_mask)
    return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
