"""CM-BERT fusion: padding is masked, the attention is CM-BERT's, alignment zeroes
special tokens."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlcl_core.config import FusionConfig
from mlcl_core.fusion import CMBertFusion, segment_weights, word_token_mask

DT, DA = 16, 8


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(3, 7, DT, generator=g)  # (B, L, Dt)
    text_mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    frames = torch.randn(3, 11, DA, generator=g)  # (B, T, Da)
    frame_mask = torch.tensor(
        [[True] * 11, [True] * 6 + [False] * 5, [True] * 2 + [False] * 9]
    )
    return text, text_mask, frames, frame_mask


@pytest.mark.parametrize("align", ["cross_attention", "segments"])
def test_padding_changes_nothing_in_unpadded_outputs(align):
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig(align=align)).eval()
    text, text_mask, frames, frame_mask = _inputs()
    out = fusion(text, text_mask, frames, frame_mask)  # (B, L, Dt)
    text2, frames2 = text.clone(), frames.clone()
    text2[text_mask == 0] = 1e3 * torch.randn(int((text_mask == 0).sum()), DT)
    frames2[~frame_mask] = -1e3 * torch.randn(int((~frame_mask).sum()), DA)
    out2 = fusion(text2, text_mask, frames2, frame_mask)
    real = text_mask.bool()
    assert torch.allclose(out[real], out2[real], atol=1e-5)
    assert out.shape == (3, 7, DT) and torch.isfinite(out).all()
    # A longer padded tail (more padding columns) changes nothing either.
    pad_t = torch.cat([text, torch.randn(3, 4, DT)], 1)
    pad_m = torch.cat([text_mask, torch.zeros(3, 4, dtype=text_mask.dtype)], 1)
    pad_f = torch.cat([frames, torch.randn(3, 5, DA)], 1)
    pad_fm = torch.cat([frame_mask, torch.zeros(3, 5, dtype=torch.bool)], 1)
    out3 = fusion(pad_t, pad_m, pad_f, pad_fm)[:, :7]
    assert torch.allclose(out[real], out3[real], atol=1e-5)


def test_audio_changes_the_output_and_grads_reach_every_part():
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig()).train()
    text, text_mask, frames, frame_mask = _inputs()
    fusion.eval()
    a = fusion(text, text_mask, frames, frame_mask)
    b = fusion(text, text_mask, frames + 1.0, frame_mask)
    assert not torch.allclose(a[:, 0], b[:, 0])
    fusion.train()
    fusion(text, text_mask, frames, frame_mask)[:, 0].pow(2).sum().backward()
    for name, p in fusion.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert fusion.w_a.grad.abs() > 0 and fusion.audio_proj.weight.grad.abs().sum() > 0


def test_attention_matches_cmbert_formula_by_hand():
    torch.manual_seed(1)
    fusion = CMBertFusion(DT, DA, FusionConfig()).eval()
    with torch.no_grad():
        fusion.w_t.fill_(0.5)
        fusion.w_a.fill_(2.0)
        fusion.b.fill_(0.3)
    text, text_mask, _, _ = _inputs()
    audio = torch.randn(3, 7, DA)
    w_m = fusion.attention(text, text_mask, audio)
    j, n = 1, 5  # second sentence: 5 real tokens
    xt = text[j, :n] @ fusion.text_proj.weight.T
    xt = xt / xt.norm().sqrt()
    xa = audio[j, :n] @ fusion.audio_proj.weight.T
    want = torch.softmax(
        0.5 * torch.relu(xt @ xt.T) + 2.0 * torch.relu(xa @ xa.T) + 0.3, dim=-1
    )
    assert torch.allclose(w_m[j, :n, :n], want, atol=1e-5)
    # padded columns get no weight
    assert torch.allclose(w_m[j, :n, n:], torch.zeros(n, 2))
    assert torch.allclose(w_m.sum(-1), torch.ones(3, 7), atol=1e-5)


def test_word_token_mask_excludes_cls_sep_and_padding():
    m = word_token_mask(torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]))
    assert m.tolist() == [[False, True, True, False, False], [False] * 5]


def test_segment_weights_average_contiguous_frames():
    words = word_token_mask(torch.tensor([[1, 1, 1, 1, 0]]))  # two word tokens
    frame_mask = torch.tensor([[True] * 5 + [False] * 3])
    w = segment_weights(words, frame_mask)[0]  # (L, T)
    assert torch.allclose(w[1], torch.tensor([0.5, 0.5, 0, 0, 0, 0, 0, 0]))
    assert torch.allclose(w[2], torch.tensor([0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0]))
    assert w[0].sum() == 0 and w[3].sum() == 0 and w[4].sum() == 0
    # Fewer frames than words: each word still gets one frame.
    w = segment_weights(
        word_token_mask(torch.tensor([[1] * 6])), torch.tensor([[True, True]])
    )[0]
    assert torch.allclose(w[1:5].sum(-1), torch.ones(4))


@pytest.mark.parametrize("align", ["cross_attention", "segments"])
def test_aligned_audio_is_zero_at_sep_padding_and_without_audio(align):
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig(align=align)).eval()
    text, text_mask, frames, frame_mask = _inputs()
    frame_mask[2] = False  # a clip with no frames
    audio = fusion.aligner(text, text_mask, frames, frame_mask)
    assert (
        (audio[1, 4:] == 0).all() and (audio[2] == 0).all() and (audio[0, 6] == 0).all()
    )
    assert (audio[0, :6].abs().sum(-1) > 0).all()  # [CLS] gets the clip (cls_audio)
    assert torch.isfinite(fusion(text, text_mask, frames, frame_mask)).all()
    if align == "segments":
        assert torch.allclose(audio[1, 0], frames[1, :6].mean(0), atol=1e-6)


@pytest.mark.parametrize("align", ["cross_attention", "segments"])
def test_cmbert_literal_zero_cls_audio_leaves_cls_output_text_only(align):
    # Why cls_audio exists: with CM-BERT's zero audio at [CLS], the classified row
    # ignores audio.
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig(align=align, cls_audio=False)).eval()
    text, text_mask, frames, frame_mask = _inputs()
    assert (fusion.aligner(text, text_mask, frames, frame_mask)[:, 0] == 0).all()
    a = fusion(text, text_mask, frames, frame_mask)
    b = fusion(text, text_mask, frames + 1.0, frame_mask)
    assert torch.allclose(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1:], b[:, 1:])


def test_bad_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="align_heads"):
        CMBertFusion(DT, 9, FusionConfig(align_heads=2))


@pytest.mark.parametrize("align", ["cross_attention", "segments"])
def test_cls_only_gives_the_fused_cls_and_its_gradients(align):
    """The fused [CLS] alone equals the first row of the full fusion: values, and the
    gradients of the text, the frames and every parameter."""
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig(align=align)).eval()
    text, text_mask, frames, frame_mask = _inputs()
    inputs = (text.requires_grad_(True), frames.requires_grad_(True))
    inputs += tuple(fusion.parameters())
    full = fusion(text, text_mask, frames, frame_mask)[:, :1]
    grad_full = torch.autograd.grad(full.pow(2).sum(), inputs, allow_unused=True)
    cls = fusion(text, text_mask, frames, frame_mask, cls_only=True)
    grad_cls = torch.autograd.grad(cls.pow(2).sum(), inputs, allow_unused=True)
    assert cls.shape == (3, 1, DT)
    torch.testing.assert_close(cls, full, rtol=1e-5, atol=1e-6)
    for g_cls, g_full in zip(grad_cls, grad_full, strict=True):
        if g_full is None:  # a parameter the alignment does not use
            assert g_cls is None or not g_cls.any()
        else:
            torch.testing.assert_close(g_cls, g_full, rtol=1e-4, atol=1e-5)


def test_folded_cross_attention_equals_the_modules_it_folds():
    """The aligner's attention on its own weights, with ``query`` folded into the Q map
    and ``audio_proj`` into the output map, against nn.MultiheadAttention fed by
    ``query`` and followed by ``audio_proj``: values and every gradient."""
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig()).train()
    aligner = fusion.aligner
    text, text_mask, frames, frame_mask = _inputs()
    frame_mask[2] = False
    results = []
    for folded in (True, False):
        fusion.zero_grad()
        aligner.folded = folded
        xa = aligner.projected(text, text_mask, frames, frame_mask, fusion.audio_proj)
        target = torch.randn(xa.shape, generator=torch.Generator().manual_seed(1))
        (xa * target).sum().backward()
        grads = {
            n: p.grad.clone()
            for n, p in fusion.named_parameters()
            if p.grad is not None
        }
        results.append((xa.detach(), grads))
    (xa, grads), (ref, ref_grads) = results
    torch.testing.assert_close(xa, ref, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys() and len(grads) == 7  # 3 layers + P_a
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6)
    audio = aligner(text, text_mask, frames, frame_mask)  # unfolded, no P_a
    aligner.folded = True
    folded = aligner(text, text_mask, frames, frame_mask)
    torch.testing.assert_close(folded, audio, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="bias-free"):
        aligner.projected(text, text_mask, frames, frame_mask, nn.Linear(DA, 3))


@pytest.mark.parametrize("cls_audio", [True, False])
def test_cls_products_equal_the_products_of_every_tokens_aligned_audio(cls_audio):
    """[CLS]'s row of Xa' Xa'^T without forming the other tokens' aligned audio
    (``cls_rows``) against the row computed from :meth:`projected`: values and the
    gradients of every parameter, the text and the frames (a clip without frames
    included)."""
    torch.manual_seed(0)
    fusion = CMBertFusion(DT, DA, FusionConfig(cls_audio=cls_audio)).train()
    aligner = fusion.aligner
    text, text_mask, frames, frame_mask = _inputs()
    frame_mask[2] = False
    text.requires_grad_(True)
    frames.requires_grad_(True)
    target = torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
    results = []
    for cls_rows in (True, False):
        fusion.zero_grad()
        text.grad = frames.grad = None
        aligner.cls_rows = cls_rows
        products = aligner.cls_products(
            text, text_mask, frames, frame_mask, fusion.audio_proj
        )
        (products * target).sum().backward()
        grads = {
            n: p.grad.clone()
            for n, p in fusion.named_parameters()
            if p.grad is not None
        }
        results.append(
            (products.detach(), grads, text.grad.clone(), frames.grad.clone())
        )
    (got, grads, d_text, d_frames), (want, ref_grads, ref_text, ref_frames) = results
    assert (want[2] == 0).all()  # a clip without frames
    # with CM-BERT's zero audio at [CLS], its row is zero
    assert (want[0, 1:6] != 0).all() if cls_audio else (want == 0).all()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys() and len(grads) == 7
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(d_text, ref_text, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(d_frames, ref_frames, rtol=1e-4, atol=1e-6)
