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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mlcl_core.encoders.dropout import Dropout, keep_scale


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


TEXT_PATHS = ("packed", "packed+fullgrid", "packed+sdpa", "padded")

#: Length blocks of the CPU's attention grid (:class:`HeadGrid`). Measured on the
#: 2-core CPU, tiny profile: see benchmarks/README.md (issue 8).
GRID_BLOCKS = 4


def packed_bert(
    bert: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    attention: str = "auto",
    blocks: int | None = None,
) -> torch.Tensor:
    """``bert(input_ids, attention_mask).last_hidden_state`` (R, L, D), computed on the
    real tokens: (R, L) ids and mask in, zeros at padded positions out.

    ``attention``: ``"grid"`` (:class:`_GridAttention`), ``"sdpa"``
    (``F.scaled_dot_product_attention`` on the padded layout), or ``"auto"``: the grid
    on the CPU, SDPA's fused kernels on CUDA or under autocast. ``blocks``: how many
    length blocks the attention grid has (:class:`HeadGrid`; default
    :data:`GRID_BLOCKS` for the grid, one for SDPA)."""
    r, n_tok = input_ids.shape
    mask = attention_mask.bool()
    real = mask.flatten().nonzero().squeeze(1)  # (N,) flat index of every real token
    positions = torch.arange(n_tok, device=input_ids.device).repeat(r)[real]  # (N,)
    emb = bert.embeddings
    x = emb.word_embeddings(input_ids.flatten()[real])  # (N, D)
    x = x + emb.token_type_embeddings.weight[0]  # every token is of type 0
    x = emb.dropout(emb.LayerNorm(x + emb.position_embeddings(positions)))
    if attention == "auto":
        cpu = x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
        attention = "grid" if cpu else "sdpa"
    if blocks is None:  # CUDA: one grid, no host synchronisation
        blocks = GRID_BLOCKS if attention == "grid" else 1
    att = bert.encoder.layer[0].attention.self
    grid = HeadGrid(mask, att.num_attention_heads, att.attention_head_size, blocks)
    for layer in bert.encoder.layer:
        x = _layer(layer, x, grid, attention == "grid")
    dim = x.shape[-1]
    return x.new_zeros(r * n_tok, dim).index_copy(0, real, x).view(r, n_tok, dim)


class HeadGrid:
    """Where packed tokens sit in the padded per-head layout of attention.

    Attention runs on grids of (text, head) groups of rows of head_dim values. The
    texts are cut into ``blocks`` by length (shortest first, equal numbers of texts),
    and each block is padded only to its own longest text: attention's work grows with
    the square of the padded length, and in a tiny-profile batch the long Tibetan texts
    would otherwise pad the short Burmese ones to 64 tokens (four blocks do 0.54-0.72
    of one grid's quadratic work on the benchmark's batches). Block ``b`` is
    ``n_b = R_b * H`` groups of ``L_b`` rows, stored one after another: one grid is
    (``size`` = sum of n_b * L_b, head_dim).

    A packed (N, 3D) Q/K/V matrix is N x 3 x H rows of head_dim values in that order;
    ``qkv_rows`` is where each of them goes in the (3 * size) rows of the Q, K and V
    grids, and ``out_rows`` where each (token, head) of the output comes from. Grid
    rows of padded positions stay zero. Length blocks apply to a mask on the CPU (the
    layout is computed on the host, in numpy: 0.28 instead of 0.56 ms per grid in
    torch's small ops); on another device the grid is one block of the padded length,
    computed there.
    """

    def __init__(
        self, mask: torch.Tensor, heads: int, head_dim: int, blocks: int = 1
    ) -> None:
        self.head_dim = head_dim
        if mask.device.type == "cpu":
            layout = _layout(mask.numpy(), heads, blocks, np)
            self.out_rows, self.qkv_rows = map(torch.from_numpy, layout[:2])
            self.keys = [torch.from_numpy(k) for k in layout[2]]
        else:  # one grid of the padded length: no host synchronisation
            layout = _layout(mask, heads, 1, torch)
            self.out_rows, self.qkv_rows, self.keys = layout[:3]
        self.blocks, self.size = layout[3], layout[4]
        self._bias: dict[torch.dtype, list[torch.Tensor]] = {}

    def views(self, grid: torch.Tensor) -> list[torch.Tensor]:
        """One grid (size, head_dim) as its blocks' (n_b, L_b, head_dim) views."""
        return [
            grid[first : first + n * length].view(n, length, self.head_dim)
            for first, n, length in self.blocks
        ]

    def scatter(
        self, packed: torch.Tensor, rows: torch.Tensor, grids: int
    ) -> torch.Tensor:
        """Packed values (N, grids*D) into ``grids`` grids (grids, size, head_dim) at
        ``rows`` (:attr:`qkv_rows` for Q/K/V, :attr:`out_rows` for one grid), zeros
        at padded positions."""
        grid = packed.new_zeros(grids * self.size, self.head_dim)
        grid.index_copy_(0, rows, packed.reshape(-1, self.head_dim))
        return grid.view(grids, self.size, self.head_dim)

    def gather(self, grid: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
        """:meth:`scatter` undone: the grid rows at ``rows``, packed to (n, ...)."""
        # index_select: about 5x faster than advanced indexing on the CPU (issue 8)
        return grid.reshape(-1, self.head_dim).index_select(0, rows).view(n, -1)

    def key_bias(self, dtype: torch.dtype) -> list[torch.Tensor]:
        """Per block, the (n_b, 1, L_b) additive mask: 0 for a text's own tokens, the
        dtype's lowest finite value for padding (finite, so a row without keys cannot
        make NaN)."""
        if dtype not in self._bias:
            low = torch.finfo(dtype).min
            self._bias[dtype] = [
                torch.zeros(k.shape, dtype=dtype, device=k.device).masked_fill(~k, low)
                for k in self.keys
            ]
        return self._bias[dtype]


def _layout(mask, heads: int, blocks: int, xp) -> tuple:
    """:class:`HeadGrid`'s index arithmetic on a (R, L) bool ``mask``, written once for
    numpy arrays (``xp=np``, on the host) and torch tensors (``xp=torch``, on the
    mask's device, one block only): (out_rows, qkv_rows, keys, blocks, size)."""
    r, n_tok = mask.shape
    if xp is torch:
        new = {"dtype": torch.long, "device": mask.device}
        chunks, widths = [torch.arange(r, device=mask.device)], [n_tok]
    else:
        new = {"dtype": np.int64}
        lengths = mask.sum(-1)
        chunks, widths = [np.arange(r)], [n_tok]
        if blocks > 1 and r > 1:  # texts sorted by length, shortest first
            order = np.argsort(lengths, kind="stable")
            chunks = [c for c in np.array_split(order, min(blocks, r)) if len(c)]
            widths = [max(1, int(lengths[c].max())) for c in chunks]
    # per text: the first grid row of its block's group of head 0, and its width
    start, width = xp.empty(r, **new), xp.empty(r, **new)
    layout, keys, row = [], [], 0
    for texts, n in zip(chunks, widths):
        count = len(texts)
        start[texts] = row + xp.arange(count, **new) * heads * n
        width[texts] = n
        layout.append((row, count * heads, n))  # (first row, groups, length)
        # (n_b, 1, L_b): True where a text's own token is a key
        own = mask[texts, :n]
        own = own.repeat_interleave(heads, 0) if xp is torch else own.repeat(heads, 0)
        keys.append(own[:, None, :])
        row += count * heads * n
    # (N,) r * L + l of real tokens
    flat = mask.flatten().nonzero().squeeze(1) if xp is torch else np.flatnonzero(mask)
    text, pos = flat // n_tok, flat % n_tok
    # (N, H) -> (N*H,): grid row of every (token, head)
    out_rows = (
        start[text, None] + xp.arange(heads, **new) * width[text, None] + pos[:, None]
    ).reshape(-1)
    third = xp.arange(3, **new)[None, :, None] * row
    qkv_rows = (third + out_rows.reshape(-1, 1, heads)).reshape(-1)
    return out_rows, qkv_rows, keys, layout, row


class _GridAttention(torch.autograd.Function):
    """Softmax attention of packed Q/K/V (N, 3D) to packed outputs (N, D), each text
    attending to its own tokens, with its backward written out.

    On the CPU this replaces SDPA's flash kernel on the padded layout: the Q/K/V
    matrix is scattered once into the per-(text, head) grids of :class:`HeadGrid`'s
    blocks, the three products are batched matrix products per block, and the backward
    writes the gradient of Q, K and V back into the packed layout in one gather,
    instead of the strided copies autograd makes through the views SDPA needs (issue
    8: those copies took 8-13 ms of a 111 ms tiny-profile MLCL step). With
    P = softmax(s QK^T + bias), O = P V: dV = P^T dO, dS = P * (dP - rowsum(dP * P))
    with dP = dO V^T, dQ = s dS K, dK = s dS^T Q (attention dropout scales P's kept
    entries and dP alike).
    """

    @staticmethod
    def forward(ctx, qkv, grid: HeadGrid, scale: float, drop: float, fast: bool):
        buf = grid.scatter(qkv, grid.qkv_rows, 3)  # padded keys and values: 0
        out = qkv.new_empty(grid.size, grid.head_dim)
        probs, scales = [], []
        for q, k, v, o, bias in zip(
            *map(grid.views, (*buf, out)), grid.key_bias(qkv.dtype)
        ):
            p = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=scale).softmax(-1)
            probs.append(p)  # (n_b, L_b, L_b)
            if drop > 0:  # dropout's factor per entry: 0 or 1 / (1 - drop)
                factor = (
                    keep_scale(p.shape, drop, p.device, p.dtype)
                    if fast
                    else torch.empty_like(p).bernoulli_(1 - drop).div_(1 - drop)
                )
                scales.append(factor)
                p = p * factor
            torch.bmm(p, v, out=o)
        ctx.save_for_backward(buf, *probs, *scales)
        ctx.grid, ctx.scale = grid, scale
        return grid.gather(out, grid.out_rows, qkv.shape[0])

    @staticmethod
    def backward(ctx, grad):
        grid, scale = ctx.grid, ctx.scale
        buf, *saved = ctx.saved_tensors
        n_blocks = len(grid.blocks)
        probs, scales = saved[:n_blocks], saved[n_blocks:] or [None] * n_blocks
        dout = grid.scatter(grad, grid.out_rows, 1)[0]  # padded queries: 0
        dbuf = torch.empty_like(buf)
        for q, k, v, do, dq, dk, dv, p, factor in zip(
            *map(grid.views, (*buf, dout, *dbuf)), probs, scales
        ):
            used = p if factor is None else p * factor
            torch.bmm(used.transpose(1, 2), do, out=dv)
            dscore = torch.bmm(do, v.transpose(1, 2))  # dP
            if factor is not None:
                dscore.mul_(factor)
            dscore.sub_((dscore * p).sum(-1, keepdim=True)).mul_(p).mul_(scale)
            torch.bmm(dscore, k, out=dq)
            torch.bmm(dscore.transpose(1, 2), q, out=dk)
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


def wav2vec2_layer(layer: nn.Module, x: torch.Tensor, grid: HeadGrid) -> torch.Tensor:
    """A post-norm ``Wav2Vec2EncoderLayer`` in eval mode on packed frames x (N, D): its
    attention over each clip's own frames on the CPU grid, everything else on the N
    frames (the audio encoder above its frozen prefix, :mod:`.frozen`)."""
    att = layer.attention
    weight = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight])
    bias = torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias])
    out = _GridAttention.apply(F.linear(x, weight, bias), grid, att.scaling, 0.0, True)
    x = layer.layer_norm(x + att.out_proj(out))
    ff = layer.feed_forward
    x = x + ff.output_dense(ff.intermediate_act_fn(ff.intermediate_dense(x)))
    return layer.final_layer_norm(x)


def _sdpa(qkv: torch.Tensor, grid: HeadGrid, scale: float, drop: float) -> torch.Tensor:
    """:class:`_GridAttention`'s result through ``F.scaled_dot_product_attention``
    (one call per block of the grid)."""
    buf = grid.scatter(qkv, grid.qkv_rows, 3)
    out = torch.cat(
        [
            F.scaled_dot_product_attention(
                q, k, v, attn_mask=keys, dropout_p=drop, scale=scale
            ).flatten(0, 1)  # (n_b * L_b, d)
            for q, k, v, keys in zip(*map(grid.views, buf), grid.keys)
        ]
    )
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
    ``"packed"``, ``"packed+fullgrid"`` (packed, the attention grid in one block of
    the batch's longest text), ``"packed+sdpa"`` (packed, with SDPA's attention on
    the CPU too, one block) or ``"padded"`` (the encoder's own forward)."""
    if path not in TEXT_PATHS:
        raise ValueError(f"text path {path!r}: expected one of {TEXT_PATHS}")
    if path != "padded" and packs(encoder):
        attention = "sdpa" if path == "packed+sdpa" else "auto"
        blocks = 1 if path == "packed+fullgrid" else None
        return packed_bert(encoder, input_ids, attention_mask, attention, blocks)
    return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
