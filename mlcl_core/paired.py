"""Paired bootstrap of one system's G and M minus another's on the same test sentences.

Chapter 6 sets each ablation row against the full model: both were scored on the same
parallel test sentences, so one draw of sentence ids scores both systems (and every
language) on the same draw, and the interval is one of the *difference*, narrower than
two separate intervals. Like :func:`mlcl_core.tables.summarize`, each system's G and M
is the mean over its seeds of each seed's G and M (not the G of pooled accuracies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlcl_core.metrics import _gini_rows

Interval = tuple[float, float, float]  # (difference, low, high)


def correct_counts(
    records: Sequence[dict[str, Any]], ids: Sequence[str], languages: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Correct and total predictions per (run, language, sentence): two (R, K, U)
    arrays, sentence u being ``ids[u]``. A record is ``{"predictions": [{"id", "lang",
    "y", "y_hat"}, ...]}`` (a stored run)."""
    if not records:
        raise ValueError("paired bootstrap: a system has no runs")
    sent = {str(i): u for u, i in enumerate(ids)}
    lang = {code: k for k, code in enumerate(languages)}
    shape = (len(records), len(languages), len(ids))
    correct, total = np.zeros(shape), np.zeros(shape)
    for r, rec in enumerate(records):
        for p in rec["predictions"]:
            u, k = sent.get(str(p["id"])), lang.get(str(p["lang"]))
            if u is None or k is None:
                raise ValueError(
                    f"paired bootstrap: prediction for sentence {p['id']!r} in "
                    f"{p['lang']!r} is not in the other system's test set"
                )
            correct[r, k, u] += float(p["y"] == p["y_hat"])
            total[r, k, u] += 1.0
    if np.any(total.sum(axis=2) == 0):
        raise ValueError("paired bootstrap: every run needs every language")
    return correct, total


def _stats(weights: np.ndarray, correct: np.ndarray, total: np.ndarray):
    """Mean over runs of G and of M for each row of sentence ``weights`` (B, U)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.einsum("bu,rku->brk", weights, correct) / np.einsum(
            "bu,rku->brk", weights, total
        )  # (B, R, K); NaN where a language drew none of its rows
    # _gini_rows reads a NaN row as all-zero (G = 0): mark those draws NaN instead
    complete = ~np.isnan(acc).any(axis=(1, 2))  # (B,)
    g = np.where(complete, _gini_rows(np.nan_to_num(acc)).mean(axis=1), np.nan)
    return g, acc.mean(axis=(1, 2))


def paired_bootstrap(
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Interval]:
    """G and M of ``b`` minus ``a`` with a percentile interval over sentence draws.

    ``a`` and ``b`` are :func:`correct_counts` pairs over the same sentences and
    languages (their run counts may differ)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if a[0].shape[1:] != b[0].shape[1:]:
        raise ValueError(
            f"paired bootstrap: (languages, sentences) differ: {a[0].shape[1:]} vs "
            f"{b[0].shape[1:]}"
        )
    n_sent = a[0].shape[2]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sent, size=(n_boot, n_sent))  # (B, U)
    offsets = (np.arange(n_boot) * n_sent)[:, None]
    weights = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_sent)
    weights = np.vstack([np.ones(n_sent), weights.reshape(n_boot, n_sent)])
    g_a, m_a = _stats(weights, *a)
    g_b, m_b = _stats(weights, *b)
    tail = (1.0 - level) / 2.0 * 100.0
    out = {}
    for name, diff in (("G", g_b - g_a), ("M", m_b - m_a)):
        low, high = np.nanpercentile(diff[1:], [tail, 100.0 - tail])
        out[name] = (float(diff[0]), float(low), float(high))
    return out


def paired_difference(
    records_a: Sequence[dict[str, Any]],
    records_b: Sequence[dict[str, Any]],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Interval]:
    """``{"G": (diff, low, high), "M": (...)}``: system b's seed-mean G and M minus
    system a's, with 95 % paired bootstrap intervals over the shared test sentences.

    ``records_*`` are a system's stored runs (one per seed). Both must be scored on the
    same sentences and languages (else ``ValueError``)."""
    preds = [p for rec in [*records_a, *records_b] for p in rec["predictions"]]
    ids = list(dict.fromkeys(str(p["id"]) for p in preds))
    languages = list(dict.fromkeys(str(p["lang"]) for p in preds))
    a = correct_counts(records_a, ids, languages)
    b = correct_counts(records_b, ids, languages)
    for name, (_, total) in (("a", a), ("b", b)):
        if np.any(total.sum(axis=0) == 0):
            raise ValueError(
                f"paired bootstrap: system {name} lacks some (sentence, language) "
                "of the other system's test set"
            )
    return paired_bootstrap(a, b, n_boot, seed)


def noise_verdict(
    row: str, difference: dict[str, Interval], reference: str = "the full model"
) -> str:
    """One sentence: is ``row``'s G and M difference from ``reference`` outside the
    noise (its 95 % paired interval excludes zero) or inside it?"""
    parts = []
    for stat in ("M", "G"):
        diff, low, high = difference[stat]
        where = "outside" if low > 0 or high < 0 else "inside"
        parts.append(f"{stat} {diff:+.4f} [{low:+.4f}, {high:+.4f}], {where} the noise")
    return f"{row} minus {reference}: " + "; ".join(parts) + "."
