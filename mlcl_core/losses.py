"""Contrastive losses of MLCL: NT-Xent, and its two uses LCL (languages) and MCL
(modalities).

NT-Xent (paper eqs 5-6 and 8-9): for two views ``a`` and ``b`` of the same N sentences,
each of the 2N embeddings is an anchor whose positive is its partner (``a_i`` <->
``b_i``) and whose denominator runs over the other 2N - 1 candidates of the batch (every
embedding except itself). Similarities are dot products of L2-normalised vectors
(cosine) divided by ``tau``.
The loss is the mean over the 2N anchors, hence symmetric: ``nt_xent(a, b) == nt_xent(b,
a)``.

With K languages in a batch (paper: K = 2):

* LCL (eq. 7) = mean over the K(K-1)/2 language pairs (x, y) of
  ``nt_xent(text_x, text_y) + nt_xent(speech_x, speech_y)``;
* MCL (eq. 10) = 2 * mean over the K languages x of ``nt_xent(speech_x, text_x)``.

Data-parallel training (``torchrun``, :mod:`mlcl_core.distributed`): each process holds
its shard of the batch; :func:`nt_xent` gathers both views from every process (with
gradient), so each local anchor's denominator runs over the global batch, and the mean
over processes of the local losses is the single-process loss of the global batch.

Choice (documented in chapter 3): both losses stay on the scale of the paper's *sum of
two* NT-Xent terms, and equal eqs 7 and 10 exactly for K = 2. For K = 3 a plain sum
would triple LCL (3 pairs) and make MCL 1.5 times larger, so the weights alpha and beta
tuned for one K would mean something else for another; averaging over pairs/languages
keeps them comparable."""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

from mlcl_core.distributed import gather_with_grad, world


def _check_tau(tau: float) -> None:
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent between two aligned views: ``a[i]`` and ``b[i]`` are positives.

    Args:
        a: (N, P) embeddings of view 1 (L2-normalised here).
        b: (N, P) embeddings of view 2, row i paired with ``a[i]``.
        tau: temperature (> 0).

    Returns:
        Scalar: mean over the 2N anchors of ``-log softmax`` of the positive among the
        other 2N - 1 candidates.
    """
    _check_tau(tau)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"nt_xent needs two (N, P) tensors of equal shape, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        )
    return nt_xent_batched(a[None], b[None], tau)[0]


def nt_xent_batched(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """:func:`nt_xent` of M pairs of views at once: ``a``, ``b`` (M, N, P) -> (M,).

    One batched product and one cross-entropy instead of M of each: LCL and MCL take
    nine NT-Xent terms for three languages, and their small ops cost more than their
    arithmetic on the CPU (issue 8)."""
    _check_tau(tau)
    n = a.shape[1]
    if n < 2:
        raise ValueError(
            f"nt_xent needs N >= 2 pairs (one pair has no negatives), got N={n}"
        )
    if world()[1] > 1:
        return torch.stack([_nt_xent_sharded(x, y, tau) for x, y in zip(a, b)])
    m = a.shape[0]
    z = F.normalize(torch.cat([a, b], dim=1), dim=-1)  # (M, 2N, P)
    sim = z @ z.transpose(1, 2) / tau  # (M, 2N, 2N)
    # An anchor is never its own candidate: -inf removes it from the softmax
    # denominator.
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    idx = torch.arange(n, device=z.device)
    positive = torch.cat([idx + n, idx])  # (2N,) partner of each anchor
    loss = F.cross_entropy(
        sim.reshape(m * 2 * n, 2 * n), positive.repeat(m), reduction="none"
    )
    return loss.view(m, 2 * n).mean(1)


def _nt_xent_sharded(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent of this process's n anchors per view against the global batch.

    Rows of process r are rows ``[r n, (r + 1) n)`` of the global views (gathered in
    rank order), so anchor i of view a is global row ``r n + i`` and its partner is row
    ``N + r n + i`` of the stacked candidates (and conversely for view b).
    """
    rank, _ = world()
    n = a.shape[0]
    za, zb = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    candidates = torch.cat([gather_with_grad(za), gather_with_grad(zb)])  # (2N, P)
    big_n = candidates.shape[0] // 2
    sim = torch.cat([za, zb]) @ candidates.T / tau  # (2n, 2N)
    rows = torch.arange(n, device=a.device) + rank * n  # global index of own rows
    own = torch.cat([rows, rows + big_n])  # (2n,) each anchor's own column
    partner = torch.cat([rows + big_n, rows])  # (2n,)
    sim = sim.masked_fill(F.one_hot(own, 2 * big_n).bool(), float("-inf"))
    return F.cross_entropy(sim, partner)


def _check_views(text_emb: torch.Tensor, speech_emb: torch.Tensor) -> None:
    if text_emb.ndim != 3 or text_emb.shape != speech_emb.shape:
        raise ValueError(
            "text_emb and speech_emb must both be (K, N, P) with equal shapes, "
            f"got {tuple(text_emb.shape)} and {tuple(speech_emb.shape)}"
        )


def language_pairs(num_languages: int) -> list[tuple[int, int]]:
    """The unordered language pairs (x, y), x < y, that LCL runs over."""
    return list(combinations(range(num_languages), 2))


def pair_rows(
    pairs: list[tuple[int, int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first and the second language of every pair, as two index tensors."""
    first, second = zip(*pairs)
    return torch.tensor(first, device=device), torch.tensor(second, device=device)


def lcl_loss(
    text_emb: torch.Tensor, speech_emb: torch.Tensor, tau: float, batched: bool = True
) -> torch.Tensor:
    """Language contrastive loss: same modality, two languages, every pair (paper eq.
    7).

    Args:
        text_emb: (K, N, P) text embeddings, row n of every language is the same
        sentence.
        speech_emb: (K, N, P) speech embeddings, aligned like ``text_emb``.
        tau: temperature.
        batched: all terms in one :func:`nt_xent_batched` call (False: one
            :func:`nt_xent` call per term, as before issue 8).

    Returns:
        Scalar: mean over language pairs of (text NT-Xent + speech NT-Xent); zero (still
        attached to the graph) when K = 1, where no language pair exists.
    """
    _check_tau(tau)
    _check_views(text_emb, speech_emb)
    pairs = language_pairs(text_emb.shape[0])
    if not pairs:
        return (text_emb.sum() + speech_emb.sum()) * 0.0
    if not batched:  # the terms one at a time (the speed benchmark's "before")
        terms = [
            nt_xent(text_emb[x], text_emb[y], tau)
            + nt_xent(speech_emb[x], speech_emb[y], tau)
            for x, y in pairs
        ]
        return torch.stack(terms).mean()
    first, second = pair_rows(pairs, text_emb.device)
    # every pair's text term and speech term in one batch: (2 * pairs,)
    terms = nt_xent_batched(
        torch.cat([text_emb[first], speech_emb[first]]),
        torch.cat([text_emb[second], speech_emb[second]]),
        tau,
    )
    return terms.view(2, -1).sum(0).mean()


def mcl_loss(
    text_emb: torch.Tensor, speech_emb: torch.Tensor, tau: float, batched: bool = True
) -> torch.Tensor:
    """Modality contrastive loss: same language, text vs speech, every language (paper
    eq. 10).

    Args:
        text_emb: (K, N, P) text embeddings.
        speech_emb: (K, N, P) speech embeddings of the same sentences.
        tau: temperature.
        batched: all terms in one :func:`nt_xent_batched` call (False: one
            :func:`nt_xent` call per term, as before issue 8).

    Returns:
        Scalar: 2 * mean over languages of NT-Xent(speech, text), i.e. the paper's sum
        of two terms for K = 2.
    """
    _check_tau(tau)
    _check_views(text_emb, speech_emb)
    if not batched:  # the terms one at a time (the speed benchmark's "before")
        terms = [nt_xent(s, t, tau) for s, t in zip(speech_emb, text_emb)]
        return 2.0 * torch.stack(terms).mean()
    return 2.0 * nt_xent_batched(speech_emb, text_emb, tau).mean()


def anchor_gradients(
    pos_sim: float, neg_sims: torch.Tensor, tau: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One anchor's NT-Xent term and its gradients with respect to the similarities.

    With ``p_k = softmax_k(s_k / tau)`` over the positive and the negatives, ``loss =
    -log p_pos``, ``d loss / d s_pos = -(1 - p_pos) / tau`` and ``d loss / d s_k = p_k /
    tau`` for each negative: a negative pushes back in proportion to its softmax weight,
    so a small tau concentrates the push on the hardest negatives.

    Args:
        pos_sim: cosine similarity of the positive pair.
        neg_sims: (M,) cosine similarities of the negatives.
        tau: temperature.

    Returns:
        ``(loss, grad_pos, grad_negs (M,))``.
    """
    _check_tau(tau)
    # (1 + M,)
    s = torch.cat([torch.tensor([pos_sim], dtype=neg_sims.dtype), neg_sims]) / tau
    p = torch.softmax(s, dim=0)
    return -torch.log_softmax(s, dim=0)[0], -(1 - p[0]) / tau, p[1:] / tau
