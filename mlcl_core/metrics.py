"""Language-balance metrics: per-language accuracy, Gini G, mean M, bootstrap intervals,
seeds.

G follows the paper's Algorithm 1 exactly (Lorenz curve of the sorted accuracies,
trapezoids, ``G = 1 - 2B``, no ``n/(n-1)`` correction), so it reproduces the printed G
of every row of Tables 2, 4 and 5 and of all but one row of Table 3 (see
``tests/test_metrics.py``). For ``n`` languages the largest possible G is ``(n-1)/n``
(2/3 for three languages).

Everything here is a pure function of arrays; nothing imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def _as_values(values: ArrayLike, what: str) -> np.ndarray:
    """Values as a 1-D float array, rejecting empty, non-finite and negative input."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(
            f"{what}: expected a 1-D list of values, got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{what}: no values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: values must be finite, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(
            f"{what}: values must be non-negative (accuracies), got {arr.tolist()}"
        )
    return arr


def _gini_rows(values: np.ndarray) -> np.ndarray:
    """Algorithm 1 along the last axis of a non-negative array (..., n) -> (...)."""
    x = np.sort(values, axis=-1)  # (..., n) ascending
    total = x.sum(axis=-1, keepdims=True)  # (..., 1)
    # All-zero rows (every language at 0 accuracy) are perfectly equal: give them G = 0
    # instead of dividing by zero, so a bootstrap of an untrained model does not crash.
    safe = np.where(total > 0, total, 1.0)
    upper = np.cumsum(x, axis=-1) / safe  # (..., n) L_1 .. L_n
    lower = upper - x / safe  # (..., n) L_0 .. L_{n-1}
    area_b = np.mean((lower + upper) / 2.0, axis=-1)  # trapezoids of width 1/n
    return np.where(total[..., 0] > 0, 1.0 - 2.0 * area_b, 0.0)


def gini(values: ArrayLike) -> float:
    """Gini coefficient G of per-language scores (0 = balanced), as in the paper's
    Algorithm 1.

    Sort ascending; Lorenz points ``L_0 = 0``, ``L_i = sum_{j<=i} x_j / sum x``; ``B =
    (1/n) sum_i (L_{i-1} + L_i) / 2``; ``G = A / (A + B) = 1 - 2B`` with ``A = 0.5 -
    B``. All-zero input gives 0."""
    return float(_gini_rows(_as_values(values, "gini")))


def mean_accuracy(values: ArrayLike) -> float:
    """M, the mean of the per-language accuracies."""
    return float(np.mean(_as_values(values, "mean_accuracy")))


def lorenz_curve(values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Points of the Lorenz curve for plotting: x = share of languages, y = share of
    accuracy.

    Both arrays have ``n + 1`` points and start at (0, 0); the line of equality is y =
    x."""
    x = np.sort(_as_values(values, "lorenz_curve"))
    total = x.sum()
    share = np.cumsum(x) / total if total > 0 else np.linspace(1 / len(x), 1.0, len(x))
    return np.linspace(0.0, 1.0, len(x) + 1), np.concatenate([[0.0], share])


def _check_predictions(
    y: ArrayLike,
    y_hat: ArrayLike,
    lang: Sequence[str] | np.ndarray,
    ids: Sequence | np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """y, y_hat, lang (and ids) as arrays of one equal, non-zero length."""
    y, y_hat, lang = np.asarray(y), np.asarray(y_hat), np.asarray(lang)
    arrays = {"y": y, "y_hat": y_hat, "lang": lang}
    if ids is not None:
        arrays["ids"] = np.asarray(ids)
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"y, y_hat, lang (and ids) must have equal lengths, got {lengths}"
        )
    if len(y) == 0:
        raise ValueError("no predictions")
    return tuple(arrays.values())


def _languages_in_order(lang: np.ndarray) -> list[str]:
    """Language codes in order of first appearance (the order the corpus lists them)."""
    _, first = np.unique(lang, return_index=True)
    return [str(lang[i]) for i in sorted(first)]


def per_language_accuracy(
    y: ArrayLike, y_hat: ArrayLike, lang: Sequence[str] | np.ndarray
) -> dict[str, float]:
    """Accuracy of each language, keyed by language code in order of first appearance.

    ``y`` (gold labels), ``y_hat`` (predicted labels) and ``lang`` (the language code of
    each prediction) are arrays of equal length."""
    y, y_hat, lang = _check_predictions(y, y_hat, lang)
    correct = y == y_hat
    return {
        code: float(np.mean(correct[lang == code]))
        for code in _languages_in_order(lang)
    }


def language_balance(
    y: ArrayLike, y_hat: ArrayLike, lang: Sequence[str] | np.ndarray
) -> dict[str, Any]:
    """Per-language accuracy with its G and M: ``{"accuracy": {lang: acc}, "G": g, "M":
    m}``."""
    acc = per_language_accuracy(y, y_hat, lang)
    values = list(acc.values())
    return {"accuracy": acc, "G": gini(values), "M": mean_accuracy(values)}


def _interval(samples: np.ndarray, estimate: float, level: float) -> dict[str, float]:
    """Percentile interval of bootstrap samples (NaN samples, if any, are ignored)."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.nanpercentile(samples, [tail, 100.0 - tail])
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def bootstrap_ci(
    y: ArrayLike,
    y_hat: ArrayLike,
    lang: Sequence[str] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ids: Sequence | np.ndarray | None = None,
    runs: Sequence | np.ndarray | None = None,
) -> dict[str, Any]:
    """Paired percentile bootstrap intervals for each language's accuracy, G and M.

    Resamples test *sentences*: one draw picks sentence ids with replacement, and every
    language is scored on the same draw, because the test set is parallel and the
    languages' errors on one sentence are correlated. ``ids`` names the sentence of each
    prediction; without it the k-th prediction of each language is taken to be the k-th
    sentence (list predictions in the same sentence order for every language).

    ``runs`` names the run (e.g. the seed) of each prediction when several runs were
    scored on the same test sentences. Every draw then scores each run on the drawn
    sentences and averages the runs' accuracies, G and M, so the interval is one of the
    same statistic as the estimate, the mean over runs of each run's G (see
    :func:`seed_summary`); the G of the pooled accuracies is smaller whenever the runs
    disagree on which language is weakest.

    Returns ``{"accuracy": {lang: {"estimate", "low", "high"}}, "G": {...}, "M": {...},
    "n_boot": n_boot, "level": level}``; estimates are the values on the full test set.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    y, y_hat, lang, *rest = _check_predictions(y, y_hat, lang, ids)
    run = np.zeros(len(y), dtype=int)
    if runs is not None:
        if np.ndim(runs) != 1 or len(runs) != len(y):
            raise ValueError(
                f"runs must be 1-D with one entry per prediction "
                f"({len(y)}), got shape {np.shape(runs)}"
            )
        _, run = np.unique(np.asarray(runs), return_inverse=True)
    languages = _languages_in_order(lang)
    lang_idx = _index_of(lang, languages)  # (N,)
    if rest:
        _, sent_idx = np.unique(rest[0], return_inverse=True)
    else:
        sent_idx = _position_within_group(run * len(languages) + lang_idx)
    n_run, n_lang, n_sent = int(run.max()) + 1, len(languages), int(sent_idx.max()) + 1

    # Correct and total counts per (run, language, sentence); draws reweight sentences.
    correct = np.zeros((n_run, n_lang, n_sent))  # (R, K, U)
    total = np.zeros((n_run, n_lang, n_sent))  # (R, K, U)
    np.add.at(correct, (run, lang_idx, sent_idx), (y == y_hat).astype(float))
    np.add.at(total, (run, lang_idx, sent_idx), 1.0)
    if np.any(total.sum(axis=2) == 0):
        raise ValueError("every run must have predictions in every language")

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sent, size=(n_boot, n_sent))  # (B, U) sentence indices
    offsets = (np.arange(n_boot) * n_sent)[:, None]  # (B, 1)
    weights = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_sent)
    weights = weights.reshape(n_boot, n_sent).astype(
        float
    )  # (B, U) times each sentence drawn
    hits = np.einsum("bu,rku->brk", weights, correct)  # (B, R, K)
    counts = np.einsum("bu,rku->brk", weights, total)  # (B, R, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = hits / counts  # (B, R, K); NaN where a language drew none of its rows
    complete = ~np.isnan(acc).any(axis=(1, 2))  # G and M need every run and language
    g_samples = np.full(n_boot, np.nan)
    g_samples[complete] = _gini_rows(acc[complete]).mean(axis=1)  # mean over runs of G
    m_samples = np.where(complete, acc.mean(axis=(1, 2)), np.nan)

    point = correct.sum(axis=2) / total.sum(axis=2)  # (R, K)
    return {
        "accuracy": {
            code: _interval(acc[:, :, k].mean(axis=1), point[:, k].mean(), level)
            for k, code in enumerate(languages)
        },
        "G": _interval(g_samples, float(np.mean([gini(p) for p in point])), level),
        "M": _interval(m_samples, float(point.mean()), level),
        "n_boot": n_boot,
        "level": level,
    }


def _index_of(lang: np.ndarray, languages: list[str]) -> np.ndarray:
    """Index of each prediction's language in ``languages``."""
    lookup = {code: k for k, code in enumerate(languages)}
    return np.array([lookup[str(code)] for code in lang])


def _position_within_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... counting separately within each group, in input order."""
    position = np.zeros(len(group), dtype=int)
    for g in np.unique(group):
        mask = group == g
        position[mask] = np.arange(mask.sum())
    return position


def seed_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of each language's accuracy, G and M.

    Each run is a mapping with ``"accuracy"`` (``{lang: accuracy}``) and optionally
    ``"G"`` and ``"M"``; missing G/M are computed from the accuracies. Every run must
    cover the same languages. The std is the sample std (ddof = 1), NaN for a single
    run. G and M are averaged per seed (the mean of the seeds' G, not the G of the mean
    accuracies).

    Returns ``{"accuracy": {lang: {"mean", "std"}}, "G": {"mean", "std"}, "M": {...},
    "n_runs": n}``.
    """
    if len(runs) == 0:
        raise ValueError("seed_summary: no runs")
    languages: list[str] | None = None
    acc_rows, g_vals, m_vals = [], [], []
    for i, run in enumerate(runs):
        if "accuracy" not in run or not isinstance(run["accuracy"], Mapping):
            raise ValueError(
                f"seed_summary: run {i} has no 'accuracy' mapping of language -> "
                "accuracy"
            )
        acc = run["accuracy"]
        if languages is None:
            languages = list(acc)
        elif set(acc) != set(languages):
            raise ValueError(
                f"seed_summary: run {i} has languages {sorted(acc)}, run 0 has "
                f"{sorted(languages)}"
            )
        values = [float(acc[code]) for code in languages]
        acc_rows.append(values)
        g_vals.append(float(run["G"]) if "G" in run else gini(values))
        m_vals.append(float(run["M"]) if "M" in run else mean_accuracy(values))
    assert languages is not None
    table = np.array(acc_rows)  # (runs, K)
    return {
        "accuracy": {code: _mean_std(table[:, k]) for k, code in enumerate(languages)},
        "G": _mean_std(np.array(g_vals)),
        "M": _mean_std(np.array(m_vals)),
        "n_runs": len(runs),
    }


def _mean_std(values: np.ndarray) -> dict[str, float]:
    """Mean and sample std (ddof = 1; NaN for one value)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return {"mean": float(np.mean(values)), "std": std}
