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

from mlcl_core.encoders.dropout import Dropout, keep_mask


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


TEXT_PATHS = ("packed", "packed+sdpa", "padded")


def packed_bert(
    bert: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    attention: str = "auto",
) -> torch.Tensor:
    """``bert(input_ids, attention_mask).last_hidden_state`` (R, L, D), computed on the
    real tokens: (R, L) ids and mask in, zeros at padded positions out.

    ``attention``: ``"grid"`` (:class:`_GridAttention`), ``"sdpa"``
    (``F.scaled_dot_product_attention`` on the padded layout), or ``"auto"``: the grid
    on the CPU, SDPA's fused kernels on CUDA or under autocast."""
    r, n_tok = input_ids.shape
    mask = attention_mask.bool()
    real = mask.flatten().nonzero().squeeze(1)  # (N,) flat index of every real token
    positions = torch.arange(n_tok, device=input_ids.device).repeat(r)[real]  # (N,)
    emb = bert.embeddings
    x = emb.word_embeddings(input_ids.flatten()[real])  # (N, D)
    x = x + emb.token_type_embeddings.weight[0]  # every token is of type 0
    x = emb.dropout(emb.LayerNorm(x + emb.position_embeddings(positions)))
    att = bert.encoder.layer[0].attention.self
    grid = HeadGrid(mask, att.num_attention_heads, att.attention_head_size)
    if attention == "auto":
        cpu = x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
        attention = "grid" if cpu else "sdpa"
    for layer in bert.encoder.layer:
        x = _layer(layer, x, grid, attention == "grid")
    dim = x.shape[-1]
    return x.new_zeros(r * n_tok, dim).index_copy(0, real, x).view(r, n_tok, dim)


class HeadGrid:
    """Where packed tokens sit in the padded per-head layout of attention.

    Attention runs on a grid of R x H groups (text, head) of L rows of head_dim values,
    flattened to (R*H*L, head_dim). A packed (N, 3D) Q/K/V matrix is N x 3 x H rows of
    head_dim values in that order; ``qkv_rows`` is where each of them goes in the
    (3, R*H*L) grids of Q, K and V, and ``out_rows`` where each (token, head) of the
    output comes from. Grid rows of padded positions stay zero.
    """

    def __init__(self, mask: torch.Tensor, heads: int, head_dim: int) -> None:
        r, n_tok = mask.shape
        self.shape = (r * heads, n_tok, head_dim)  # (groups, L, d)
        self.size = r * heads * n_tok  # rows of one grid
        head = torch.arange(heads, device=mask.device)

        def rows(flat: torch.Tensor) -> torch.Tensor:
            """(M,) flat positions r*L + l -> (M, H) rows of the grid."""
            text, pos = flat.div(n_tok, rounding_mode="floor"), flat % n_tok
            return (text[:, None] * heads + head) * n_tok + pos[:, None]

        third = torch.arange(3, device=mask.device)[None, :, None] * self.size
        self.out_rows = rows(mask.flatten().nonzero().squeeze(1)).flatten()  # (N*H,)
        self.qkv_rows = (third + self.out_rows.view(-1, 1, heads)).flatten()  # (N*3*H,)
        # (R*H, 1, L): True where a text's own token is a key
        self.keys = mask.repeat_interleave(heads, dim=0)[:, None, :]
        self._bias: dict[torch.dtype, torch.Tensor] = {}

    def scatter(
        self, packed: torch.Tensor, rows: torch.Tensor, grids: int
    ) -> torch.Tensor:
        """Packed values (N, grids*D) into ``grids`` grids (grids*R*H*L, head_dim) at
        ``rows`` (:attr:`qkv_rows` for Q/K/V, :attr:`out_rows` for one grid), zeros
        at padded positions."""
        head_dim = self.shape[2]
        grid = packed.new_zeros(grids * self.size, head_dim)
        return grid.index_copy_(0, rows, packed.reshape(-1, head_dim))

    def gather(self, grid: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
        """:meth:`scatter` undone: the grid rows at ``rows``, packed to (n, ...)."""
        return grid.reshape(-1, self.shape[2])[rows].view(n, -1)

    def key_bias(self, dtype: torch.dtype) -> torch.Tensor:
        """(R*H, 1, L) additive mask: 0 for a text's own tokens, the dtype's lowest
        finite value for padding (finite, so a row without keys cannot make NaN)."""
        if dtype not in self._bias:
            low = torch.finfo(dtype).min
            self._bias[dtype] = torch.zeros(
                self.keys.shape, dtype=dtype, device=self.keys.device
            ).masked_fill(~self.keys, low)
        return self._bias[dtype]


class _GridAttention(torch.autograd.Function):
    """Softmax attention of packed Q/K/V (N, 3D) to packed outputs (N, D), each text
    attending to its own tokens, with its backward written out.

    On the CPU this replaces SDPA's flash kernel on the padded layout: the Q/K/V
    matrix is scattered once into per-(text, head) grids, the three products are
    batched matrix products, and the backward writes the gradient of Q, K and V back
    into the packed layout in one gather, instead of the strided copies autograd makes
    through the views SDPA needs (issue 8: those copies took 8-13 ms of a 111 ms
    tiny-profile MLCL step). With P = softmax(s QK^T + bias), O = P V:
    dV = P^T dO, dS = P * (dP - rowsum(dP * P)) with dP = dO V^T, dQ = s dS K,
    dK = s dS^T Q (attention dropout scales P's kept entries and dP alike).
    """

    @staticmethod
    def forward(ctx, qkv, grid: HeadGrid, scale: float, drop: float, fast: bool):
        buf = grid.scatter(qkv, grid.qkv_rows, 3)  # padded keys and values: 0
        q, k, v = buf.view(3, *grid.shape)
        probs = torch.baddbmm(
            grid.key_bias(qkv.dtype), q, k.transpose(1, 2), alpha=scale
        ).softmax(-1)  # (R*H, L, L)
        keep = None
        if drop > 0:
            keep = (
                keep_mask(probs.shape, drop, probs.device)
                if fast
                else torch.empty_like(probs).bernoulli_(1 - drop).bool()
            )
            out = torch.bmm(probs * keep / (1 - drop), v)
        else:
            out = torch.bmm(probs, v)
        ctx.save_for_backward(buf, probs, keep)
        ctx.grid, ctx.scale, ctx.drop = grid, scale, drop
        return grid.gather(out, grid.out_rows, qkv.shape[0])

    @staticmethod
    def backward(ctx, grad):
        buf, probs, keep = ctx.saved_tensors
        grid, scale, drop = ctx.grid, ctx.scale, ctx.drop
        q, k, v = buf.view(3, *grid.shape)
        # padded queries send nothing back
        dout = grid.scatter(grad, grid.out_rows, 1).view(grid.shape)
        dbuf = torch.empty_like(buf).view(3, *grid.shape)
        used = probs if keep is None else probs * keep / (1 - drop)
        torch.bmm(used.transpose(1, 2), dout, out=dbuf[2])  # dV
        dscore = torch.bmm(dout, v.transpose(1, 2))  # dP
        if keep is not None:
            dscore.mul_(keep).div_(1 - drop)
        dscore.sub_((dscore * probs).sum(-1, keepdim=True)).mul_(probs).mul_(scale)
        torch.bmm(dscore, k, out=dbuf[0])  # dQ
        torch.bmm(dscore.transpose(1, 2), q, out=dbuf[1])  # dK
        dqkv = grid.gather(dbuf, grid.qkv_rows, grad.shape[0])
        return dqkv, None, None, None, None


def _layer(
    layer: nn.Module, x: torch.Tensor, grid: HeadGrid, on_grid: bool
) -> torch.Tensor:
    """One ``BertLayer`` on packed tokens x (N, D): attention over each text's own
    tokens, everything else on the N tokens."""
    att = layer.attention.self
    # Q, K and V in one matrix product: (N, 3D)
    weight = torch.cat([att.query.weight, att.key.weight, att.value.weight])
    bias = torch.cat([att.query.bias, att.key.bias, att.value.bias])
    qkv = F.linear(x, weight, bias)
    drop = att.dropout.p if att.training else 0.0
    if on_grid:
        fast = isinstance(att.dropout, Dropout)  # else torch's mask (benchmark rows)
        out = _GridAttention.apply(qkv, grid, att.scaling, drop, fast)
    else:
        out = _sdpa(qkv, grid, att.scaling, drop)
    x = layer.attention.output(out, x)  # dense, dropout, LayerNorm(+ x)
    return layer.output(layer.intermediate(x), x)


def _sdpa(qkv: torch.Tensor, grid: HeadGrid, scale: float, drop: float) -> torch.Tensor:
    """:class:`_GridAttention`'s result through ``F.scaled_dot_product_attention``."""
    q, k, v = grid.scatter(qkv, grid.qkv_rows, 3).view(3, *grid.shape)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=grid.keys, dropout_p=drop, scale=scale
    )  # (R*H, L, d)
    return grid.gather(out, grid.out_rows, qkv.shape[0])


def text_states(
    encoder: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    path: str = "packed",
) -> torch.Tensor:
    """The token states (R, L, D) of a text encoder: :func:`packed_bert` where it
    applies, else the encoder's own padded forward.

    ``path`` (:data:`TEXT_PATHS`; the speed benchmark's rows undo one change each):
    ``"packed"``, ``"packed+sdpa"`` (packed, with SDPA's attention on the CPU too) or
    ``"padded"`` (the encoder's own forward)."""
    if path not in TEXT_PATHS:
        raise ValueError(f"text path {path!r}: expected one of {TEXT_PATHS}")
    if path != "padded" and packs(encoder):
        attention = "sdpa" if path == "packed+sdpa" else "auto"
        return packed_bert(encoder, input_ids, attention_mask, attention)
    return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
