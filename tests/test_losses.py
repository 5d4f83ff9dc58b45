"""NT-Xent, LCL and MCL against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mlcl_core import losses


def _hand_2x2(tau: float) -> float:
    """The 2x2 case below, written out: z0=(1,0), z1=(0,1) (view a), z2=(.6,.8),
    z3=(.8,.6) (view b).

    Dot products: z0.z1=0, z0.z2=.6, z0.z3=.8, z1.z2=.8, z1.z3=.6, z2.z3=.96. Every
    positive pair has similarity .6. Anchors 0 and 1 see the other candidates {0, .6,
    .8}; anchors 2 and 3 see {.6, .8, .96}."""
    l0 = -0.6 / tau + math.log(
        math.exp(0.0 / tau) + math.exp(0.6 / tau) + math.exp(0.8 / tau)
    )
    l2 = -0.6 / tau + math.log(
        math.exp(0.6 / tau) + math.exp(0.8 / tau) + math.exp(0.96 / tau)
    )
    return (2 * l0 + 2 * l2) / 4


A = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
B = torch.tensor([[0.6, 0.8], [0.8, 0.6]])


@pytest.mark.parametrize("tau", [1.0, 0.5, 0.07])
def test_nt_xent_matches_hand_computation(tau):
    got = losses.nt_xent(A, B, tau).item()
    assert got == pytest.approx(_hand_2x2(tau), rel=1e-5)


def test_nt_xent_identical_orthogonal_views():
    # a == b == identity: each anchor sees its copy (sim 1) and two orthogonal others
    # (sim 0).
    tau = 0.5
    eye = torch.eye(2)
    assert losses.nt_xent(eye, eye, tau).item() == pytest.approx(
        math.log(1 + 2 * math.exp(-1 / tau)), rel=1e-6
    )


def test_nt_xent_normalises_and_is_symmetric():
    assert losses.nt_xent(3.0 * A, 0.2 * B, 0.3).item() == pytest.approx(
        losses.nt_xent(A, B, 0.3).item(), rel=1e-6
    )
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    assert losses.nt_xent(a, b, 0.1).item() == pytest.approx(
        losses.nt_xent(b, a, 0.1).item(), rel=1e-6
    )


def test_nt_xent_rewards_aligned_views():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(8, 16, generator=g)
    aligned = losses.nt_xent(a, a + 0.01 * torch.randn(8, 16, generator=g), 0.1)
    shuffled = losses.nt_xent(a, a[torch.randperm(8, generator=g)], 0.1)
    assert aligned < shuffled


@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_nt_xent_rejects_bad_tau(bad):
    with pytest.raises(ValueError, match="tau"):
        losses.nt_xent(A, B, bad)


def test_nt_xent_rejects_bad_shapes():
    with pytest.raises(ValueError, match="equal shape"):
        losses.nt_xent(A, torch.zeros(3, 2), 0.1)
    with pytest.raises(ValueError, match="N >= 2"):
        losses.nt_xent(A[:1], B[:1], 0.1)


def _views(k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, 4, 6, generator=g), torch.randn(k, 4, 6, generator=g)


def test_language_pairs_for_three_languages():
    assert losses.language_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert losses.language_pairs(1) == []


def test_lcl_two_languages_is_the_papers_sum():
    text, speech = _views(2)
    want = losses.nt_xent(text[0], text[1], 0.1) + losses.nt_xent(
        speech[0], speech[1], 0.1
    )
    assert losses.lcl_loss(text, speech, 0.1).item() == pytest.approx(
        want.item(), rel=1e-6
    )


def test_lcl_three_languages_averages_every_pair():
    text, speech = _views(3)
    nt = losses.nt_xent
    pairs = [(0, 1), (0, 2), (1, 2)]
    want = (
        sum(nt(text[x], text[y], 0.2) + nt(speech[x], speech[y], 0.2) for x, y in pairs)
        / 3
    )
    assert losses.lcl_loss(text, speech, 0.2).item() == pytest.approx(
        want.item(), rel=1e-6
    )
    # Permuting the languages permutes the pairs only.
    perm = torch.tensor([2, 0, 1])
    assert losses.lcl_loss(text[perm], speech[perm], 0.2).item() == pytest.approx(
        want.item(), rel=1e-6
    )


def test_mcl_pairs_each_language_with_itself():
    text, speech = _views(3)
    nt = losses.nt_xent
    want = 2 * sum(nt(speech[k], text[k], 0.2) for k in range(3)) / 3
    assert losses.mcl_loss(text, speech, 0.2).item() == pytest.approx(
        want.item(), rel=1e-6
    )
    text2, speech2 = _views(2)
    paper = nt(speech2[0], text2[0], 0.2) + nt(speech2[1], text2[1], 0.2)
    assert losses.mcl_loss(text2, speech2, 0.2).item() == pytest.approx(
        paper.item(), rel=1e-6
    )


def test_lcl_single_language_is_zero_but_differentiable():
    text, speech = _views(1)
    text.requires_grad_(True)
    out = losses.lcl_loss(text, speech, 0.1)
    out.backward()
    assert out.item() == 0.0 and text.grad is not None


def test_losses_reject_mismatched_views():
    text, speech = _views(3)
    with pytest.raises(ValueError, match="K, N, P"):
        losses.mcl_loss(text, speech[:2], 0.1)
    with pytest.raises(ValueError, match="tau"):
        losses.lcl_loss(text, speech, 0.0)


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_anchor_gradients_match_autograd(tau):
    s = torch.tensor([0.7, 0.8, 0.1, -0.3], dtype=torch.float64, requires_grad=True)
    loss = -torch.log_softmax(s / tau, dim=0)[0]
    loss.backward()
    got_loss, g_pos, g_neg = losses.anchor_gradients(0.7, s[1:].detach(), tau)
    assert got_loss.item() == pytest.approx(loss.item())
    assert g_pos.item() == pytest.approx(s.grad[0].item())
    assert torch.allclose(g_neg, s.grad[1:])
    # Smaller tau: the hard negative (0.8) takes a larger share of the push than the
    # easy one.
    assert (g_neg[0] / g_neg[1]).item() > 1.0


@pytest.mark.parametrize("loss", [losses.lcl_loss, losses.mcl_loss])
def test_batched_losses_equal_their_terms_one_by_one(loss):
    """LCL and MCL compute their NT-Xent terms (nine for K = 3) in one batch: the
    same values and gradients as the terms one at a time."""
    torch.manual_seed(0)
    text = torch.randn(3, 6, 8, dtype=torch.float64, requires_grad=True)
    speech = torch.randn(3, 6, 8, dtype=torch.float64, requires_grad=True)
    got, ref = loss(text, speech, 0.1), loss(text, speech, 0.1, batched=False)
    torch.testing.assert_close(got, ref)
    grads = torch.autograd.grad(got, (text, speech))
    ref_grads = torch.autograd.grad(ref, (text, speech))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)
