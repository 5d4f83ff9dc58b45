"""CM-BERT masked multimodal attention (Yang et al. 2020), with audio aligned to text
tokens.

CM-BERT needs one audio vector per text token; it got them from forced alignment (audio
frames averaged per word). Synthesised speech has no alignment, so it is built here in
one of two ways (``FusionConfig.align``):

* ``cross_attention``: every text token attends over the audio frames (learned);
* ``segments``: the frames are cut into as many contiguous, equal segments as the
  sentence has word tokens, and each segment is averaged (parameter-free ablation).

The audio vector is zero at [SEP] and padding. CM-BERT also gives [CLS] zero audio, but
then the [CLS] row of the attention below ignores the audio, and so does the [CLS]
output that is
classified: audio would only shape the other tokens. With ``FusionConfig.cls_audio``
(default) [CLS] gets the whole clip instead (its cross-attention over all frames, or the
mean of all frames); ``cls_audio=False`` is CM-BERT's literal zero. Then::

    Xt' = P_t X_t / sqrt(||P_t X_t||)        P_t: bias-free 1x1 projection, width 30
    Xa' = P_a X_a                            P_a: bias-free 1x1 projection, width 30
    alpha_t = ReLU(Xt' Xt'^T),  beta_a = ReLU(Xa' Xa'^T)              (B, L, L)
    W_f = w_t alpha_t + w_a beta_a + b       (scalars, init 1, 1, 0)
    W_m = softmax_rows(W_f - 10000 on padded rows and columns), then dropout
    Y = LayerNorm(Dropout(Linear(W_m X_t + X_t)))

The norm in the text scaling is the Frobenius norm of one sentence's projected unpadded
tokens:
per sentence, so that a sentence's output never depends on its batch-mates or its
padding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlcl_core.config import FusionConfig
from mlcl_core.encoders.dropout import Dropout

# CM-BERT's additive mask: exp(-10000) underflows to exactly 0 in float32
NEG = -10000.0


def word_token_mask(text_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the real tokens other than [CLS] (first) and [SEP] (last real
    token)."""
    mask = text_mask.bool()
    n_real = mask.sum(-1, keepdim=True)  # (B, 1)
    pos = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)  # (1, L)
    return mask & (pos >= 1) & (pos < n_real - 1)


def segment_weights(word_mask: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """(B, L, T) averaging weights: word token p of m gets frames [(p-1)T/m, pT/m) of
    the T real frames.

    Every word token gets at least one frame (segments overlap when T < m); rows of
    non-word tokens and sentences without audio are zero."""
    n_frames = frame_mask.sum(-1, keepdim=True).float()  # (B, 1)
    n_words = word_mask.sum(-1, keepdim=True).clamp(min=1).float()  # (B, 1)
    # (B, L): 0-based index of each word token
    rank = (word_mask.cumsum(-1) - 1).float()
    start = torch.floor(rank * n_frames / n_words)  # (B, L)
    # (B, L)
    end = torch.maximum(torch.floor((rank + 1) * n_frames / n_words), start + 1)
    idx = torch.arange(frame_mask.shape[1], device=frame_mask.device).float()  # (T,)
    w = (idx >= start.unsqueeze(-1)) & (idx < end.unsqueeze(-1))  # (B, L, T)
    w = w & word_mask.unsqueeze(-1) & frame_mask.bool().unsqueeze(1)
    w = w.float()
    return w / w.sum(-1, keepdim=True).clamp(min=1.0)


class TokenAudioAligner(nn.Module):
    """One audio vector per text token: cross-attention from tokens to frames, or
    segment means.

    Args:
        text_dim: width of the text token states (queries).
        audio_dim: width of the audio frames; the output has this width.
        align: ``cross_attention`` or ``segments``.
        heads: attention heads (``audio_dim`` must be divisible by it).
        cls_audio: [CLS] gets the whole clip's audio (else zero, as in CM-BERT).
    """

    def __init__(
        self,
        text_dim: int,
        audio_dim: int,
        align: str,
        heads: int,
        cls_audio: bool = True,
    ) -> None:
        super().__init__()
        self.cls_audio = cls_audio
        if align not in ("cross_attention", "segments"):
            raise ValueError(
                f"unknown align {align!r}; known: cross_attention, segments"
            )
        self.align = align
        if align == "cross_attention":
            if audio_dim % heads:
                raise ValueError(
                    f"audio width {audio_dim} is not divisible by align_heads={heads}"
                )
            self.query = nn.Linear(text_dim, audio_dim)
            self.attn = nn.MultiheadAttention(audio_dim, heads, batch_first=True)
        # False: query, attention and projection as three modules (speed benchmark)
        self.folded = True
        # False: cls_products from every token's aligned audio (speed benchmark)
        self.cls_rows = True

    def forward(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> torch.Tensor:
        """(B, L, Da) audio per token, zero at [SEP], padding (and [CLS] unless
        ``cls_audio``)."""
        return self.projected(text_states, text_mask, frames, frame_mask, None)

    def projected(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        proj: nn.Linear | None,
    ) -> torch.Tensor:
        """``proj(self(text_states, text_mask, frames, frame_mask))`` (B, L, W), with
        the bias-free ``proj`` folded into the cross-attention's output map (one matrix
        product per token instead of two; ``None``: no projection)."""
        if proj is not None and proj.bias is not None:
            raise ValueError(
                "projected: proj must be bias-free (it commutes with masks)"
            )
        frame_mask = frame_mask.bool()
        keep, keys_ok = self._masks(text_mask, frame_mask)
        if self.align == "segments":
            words = word_token_mask(text_mask)
            w = segment_weights(words, frame_mask)  # (B, L, T)
            # (B, T)
            clip_mean = frame_mask.float() / frame_mask.sum(-1, keepdim=True).clamp(
                min=1
            )
            cls = keep & ~words  # [CLS] with cls_audio
            w = torch.where(cls.unsqueeze(-1), clip_mean.unsqueeze(1), w)
            audio = w.to(frames.dtype) @ frames  # (B, L, Da)
            return audio if proj is None else proj(audio)
        if self.folded:  # (B, L, W), projected
            audio = self._attend(text_states, frames, keys_ok, proj)
        else:
            audio, _ = self.attn(
                self.query(text_states),
                frames,
                frames,
                key_padding_mask=~keys_ok,
                need_weights=False,
            )  # (B, L, Da)
        audio = audio * keep.unsqueeze(-1).to(audio.dtype)
        return proj(audio) if proj is not None and not self.folded else audio

    def _masks(
        self, text_mask: torch.Tensor, frame_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``keep`` (B, L): the tokens that get audio (word tokens, and [CLS] with
        ``cls_audio``, of sentences with audio); ``keys_ok`` (B, T): the frames a token
        attends to (a clip without frames unmasks its first one, zeroed by ``keep``, so
        the softmax cannot make NaN)."""
        frame_mask = frame_mask.bool()
        words = word_token_mask(text_mask)  # (B, L)
        cls = torch.zeros_like(words)
        cls[:, 0] = self.cls_audio
        cls &= text_mask[:, :1].bool()
        has_audio = frame_mask.any(-1)  # (B,)
        keep = (words | cls) & has_audio.unsqueeze(-1)  # (B, L)
        keys_ok = frame_mask.clone()
        keys_ok[:, 0] |= ~has_audio
        return keep, keys_ok

    def cls_products(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        proj: nn.Linear,
    ) -> torch.Tensor:
        """(B, L): ``xa_0 . xa_j`` for every token j, with ``xa = self.projected(...,
        proj)``: [CLS]'s row of ``Xa' Xa'^T``, all a fused [CLS] needs of the audio.

        With folded cross-attention it never forms the other tokens' aligned audio
        (issue 8). Token j's is ``xa_j = keep_j (W o_j + c)`` with ``W`` = P_a W_o,
        ``c`` = P_a b_o and ``o_j = concat_h P_jh V_h`` (P_jh: its attention over the
        frames, V_h = F W_vh^T + b_vh). So, per sentence and head, with ``u_h`` =
        (W^T xa_0)_h::

            xa_0 . xa_j = keep_j (sum_h P_jh . z_h + sum_h b_vh . u_h + c . xa_0),
            z_h = F (W_vh^T u_h)  (one number per frame)

        and [CLS]'s own ``o_0 = (P_0h F) W_vh^T + b_vh`` (attention rows sum to 1): no
        value projection of the frames, no attention output and no P_a map for the
        other tokens. The same function as the products of :meth:`projected` (tests);
        unfolded or segment alignment computes them from :meth:`projected`."""
        if self.align == "segments" or not self.folded or not self.cls_rows:
            xa = self.projected(text_states, text_mask, frames, frame_mask, proj)
            return (xa[:, :1] @ xa.transpose(1, 2))[:, 0]
        keep, keys_ok = self._masks(text_mask, frame_mask)
        mha = self.attn
        width, heads = mha.embed_dim, mha.num_heads
        b, d = text_states.shape[0], width // heads
        probs = self._probs(text_states, frames, keys_ok)  # (B, H, L, T)
        w_v = mha.in_proj_weight[2 * width :].view(heads, d, -1)  # (H, d, Da)
        b_v = mha.in_proj_bias[2 * width :].view(heads, d)
        w_o = proj.weight @ mha.out_proj.weight  # (W, Da)
        c = proj.weight @ mha.out_proj.bias  # (W,)
        cls_frames = probs[:, :, 0] @ frames  # (B, H, Da): P_0h F
        o_0 = torch.einsum("bha,hda->bhd", cls_frames, w_v) + b_v  # (B, H, d)
        xa_0 = F.linear(o_0.reshape(b, width), w_o, c) * keep[:, :1].to(o_0.dtype)
        u = (xa_0 @ w_o).view(b, heads, d)  # (B, H, d)
        z = frames @ torch.einsum("bhd,hda->bah", u, w_v)  # (B, T, H)
        # sum over heads and frames of P_jh z_h: (B, H, L, T) @ (B, H, T, 1)
        sums = (probs @ z.transpose(1, 2).unsqueeze(-1)).sum(1).squeeze(-1)  # (B, L)
        const = (u * b_v).sum((1, 2)) + xa_0 @ c  # (B,)
        return keep.to(sums.dtype) * (sums + const.unsqueeze(-1))

    def _probs(
        self, text_states: torch.Tensor, frames: torch.Tensor, keys_ok: torch.Tensor
    ) -> torch.Tensor:
        """(B, H, L, T): the attention of every token over the frames, with ``query``
        folded into the Q map (as in :meth:`_attend`)."""
        mha = self.attn
        width, heads = mha.embed_dim, mha.num_heads
        b, n_tok, _ = text_states.shape
        n_frames, d = frames.shape[1], width // heads
        w_q, b_q = self._query_map()
        q = F.linear(text_states, w_q, b_q).view(b, n_tok, heads, d).transpose(1, 2)
        w_k = mha.in_proj_weight[width : 2 * width]
        b_k = mha.in_proj_bias[width : 2 * width]
        k = F.linear(frames, w_k, b_k).view(b, n_frames, heads, d).transpose(1, 2)
        low = torch.finfo(q.dtype).min
        bias = torch.zeros(b, 1, 1, n_frames, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~keys_ok[:, None, None, :], low)
        scores = q @ k.transpose(-1, -2) * d**-0.5 + bias  # (B, H, L, T)
        return scores.softmax(-1)

    def _query_map(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` folded into the attention's Q map: weight (Da, Dt), bias (Da,)."""
        width = self.attn.embed_dim
        w_q, b_q = self.attn.in_proj_weight[:width], self.attn.in_proj_bias[:width]
        return w_q @ self.query.weight, w_q @ self.query.bias + b_q

    def _attend(
        self,
        text_states: torch.Tensor,
        frames: torch.Tensor,
        keys_ok: torch.Tensor,
        proj: nn.Linear | None,
    ) -> torch.Tensor:
        """``self.attn(self.query(text_states), frames, frames)`` on its own weights,
        the ``query`` layer folded into the attention's query map (both are affine)
        and ``proj`` into its output map: the same function, two fewer (B*L, D) x
        (D, D) matrix products forward and four backward (issue 8)."""
        mha = self.attn
        width, heads = mha.embed_dim, mha.num_heads
        b, n_tok, _ = text_states.shape
        n_frames = frames.shape[1]
        w_kv, b_kv = mha.in_proj_weight[width:], mha.in_proj_bias[width:]
        q = F.linear(text_states, *self._query_map()).view(b, n_tok, heads, -1)
        kv = F.linear(frames, w_kv, b_kv).view(b, n_frames, 2, heads, -1)
        k, v = kv.permute(2, 0, 3, 1, 4)  # (B, H, T, d) each
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k, v, attn_mask=keys_ok[:, None, None, :]
        )  # (B, H, L, d)
        out = out.transpose(1, 2).reshape(b, n_tok, width)
        w_o, b_o = mha.out_proj.weight, mha.out_proj.bias
        if proj is not None:
            w_o, b_o = proj.weight @ w_o, proj.weight @ b_o
        return F.linear(out, w_o, b_o)


class CMBertFusion(nn.Module):
    """CM-BERT masked multimodal attention over text tokens, with audio aligned to the
    tokens.

    Args:
        text_dim: width Dt of the text token states (the output has this width too).
        audio_dim: width Da of the audio encoder's frames.
        cfg: :class:`mlcl_core.config.FusionConfig` (projection width, dropout,
        alignment).
    """

    def __init__(self, text_dim: int, audio_dim: int, cfg: FusionConfig) -> None:
        super().__init__()
        if cfg.kind != "cmbert":
            raise ValueError(f"unknown fusion {cfg.kind!r}; only cmbert is implemented")
        self.cfg = cfg
        self.aligner = TokenAudioAligner(
            text_dim, audio_dim, cfg.align, cfg.align_heads, cfg.cls_audio
        )
        self.text_proj = nn.Linear(text_dim, cfg.width, bias=False)
        self.audio_proj = nn.Linear(audio_dim, cfg.width, bias=False)
        self.w_t = nn.Parameter(torch.tensor(1.0))
        self.w_a = nn.Parameter(torch.tensor(1.0))
        self.b = nn.Parameter(torch.tensor(0.0))
        self.attn_dropout = Dropout(cfg.dropout)
        self.out = nn.Linear(text_dim, text_dim)
        self.out_dropout = Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(text_dim)

    def attention(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        audio: torch.Tensor,
        rows: int | None = None,
    ) -> torch.Tensor:
        """(B, L, L) masked multimodal attention matrix W_m (rows sum to 1; before
        dropout); with ``rows``, only its first ``rows`` rows (B, rows, L)."""
        xa = self.audio_proj(audio)  # (B, L, W)
        beta_a = torch.relu(xa[:, :rows] @ xa.transpose(1, 2))  # (B, rows, L)
        return self._weights(text_states, text_mask, beta_a, rows)

    def _weights(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        beta_a: torch.Tensor,
        rows: int | None,
    ) -> torch.Tensor:
        """:meth:`attention` from its audio term ``beta_a``: the first ``rows`` rows
        of ReLU(Xa' Xa'^T) (B, rows, L)."""
        mask = text_mask.to(text_states.dtype)  # (B, L)
        xt = self.text_proj(text_states) * mask.unsqueeze(-1)  # (B, L, W)
        # (B,) over the sentence's real tokens
        norm = xt.flatten(1).norm(dim=-1).clamp(min=1e-6)
        xt = xt / norm.sqrt().view(-1, 1, 1)
        alpha_t = torch.relu(xt[:, :rows] @ xt.transpose(1, 2))  # (B, rows, L)
        w_f = self.w_t * alpha_t + self.w_a * beta_a + self.b
        pad = 1.0 - mask
        w_f = w_f + NEG * pad.unsqueeze(1) + NEG * pad[:, :rows].unsqueeze(2)
        return torch.softmax(w_f, dim=-1)

    def forward(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        cls_only: bool = False,
    ) -> torch.Tensor:
        """Fuse audio into the text tokens.

        Args:
            text_states: (B, L, Dt) text encoder token states ([CLS] first).
            text_mask: (B, L) 1 for real tokens.
            frames: (B, T, Da) audio encoder frames.
            frame_mask: (B, T) True for real frames.
            cls_only: compute the fused [CLS] alone (B, 1, Dt): every token still
                enters as a key of W_m, but only [CLS]'s row of W_m, the output layer
                and its norm are computed. The same values as ``fused[:, :1]``, for a
                classifier that reads [CLS] (about 4 % of a tiny MLCL step, issue 8).

        Returns:
            fused: (B, L, Dt), or (B, 1, Dt) with ``cls_only``; classify from
            ``fused[:, 0]`` ([CLS]).
        """
        rows = 1 if cls_only else None
        if cls_only:  # [CLS]'s row of Xa' Xa'^T, without every token's audio
            products = self.aligner.cls_products(
                text_states, text_mask, frames, frame_mask, self.audio_proj
            ).unsqueeze(1)  # (B, 1, L)
        else:  # P_a X_a: the aligned audio, projected (B, L, W)
            xa = self.aligner.projected(
                text_states, text_mask, frames, frame_mask, self.audio_proj
            )
            products = xa @ xa.transpose(1, 2)  # (B, L, L)
        beta_a = torch.relu(products)
        # (B, L or 1, L)
        w_m = self.attn_dropout(self._weights(text_states, text_mask, beta_a, rows))
        x_att = w_m @ text_states  # (B, L or 1, Dt)
        fused = x_att + text_states[:, :rows]
        return self.norm(self.out_dropout(self.out(fused)))  # (B, L or 1, Dt)
