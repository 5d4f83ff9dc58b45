"""Tests for mlcl_core.metrics: hand-worked values and the paper's printed tables."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from mlcl_core import metrics

# (table, system, zh, bo, my accuracies in %, printed G, printed M), paper section
# 4.5-4.6.
PAPER_ROWS = [
    ("T2", "mBERT-Unique", 78.61, 50.25, 28.86, 0.2103, 0.5257),
    ("T2", "mBERT-Combined", 87.24, 58.38, 46.19, 0.1427, 0.6394),
    ("T2", "mBERT+PGD", 85.26, 32.68, 33.65, 0.2312, 0.5053),
    ("T2", "mBERT+FGM", 84.74, 38.05, 40.87, 0.1902, 0.5455),
    ("T2", "MLCL", 84.67, 59.21, 48.71, 0.1245, 0.6420),
    ("T3", "mBERT-Combined", 80.25, 45.15, 39.01, 0.1672, 0.5480),
    ("T3", "mBERT+PGD", 79.67, 44.76, 37.07, 0.1759, 0.5383),
    ("T3", "mBERT+FGM", 77.82, 44.23, 35.58, 0.1786, 0.5254),
    ("T3", "MLCL", 79.70, 48.42, 42.01, 0.1477, 0.5671),
    ("T4", "SimAdapter", 85.01, 55.61, 46.65, 0.1366, 0.6242),
    ("T5", "w/o LCL", 85.98, 58.61, 46.33, 0.1385, 0.6364),
    ("T5", "w/o MCL", 86.44, 58.49, 46.70, 0.1383, 0.6388),
    ("T5", "w/o Adapter", 69.26, 42.91, 33.17, 0.1655, 0.4845),
]


@pytest.mark.parametrize(
    "table,system,zh,bo,my,g_printed,m_printed",
    PAPER_ROWS,
    ids=[f"{r[0]}-{r[1]}" for r in PAPER_ROWS],
)
def test_paper_rows_reproduce(table, system, zh, bo, my, g_printed, m_printed):
    acc = [zh / 100, bo / 100, my / 100]
    assert round(metrics.gini(acc), 4) == g_printed
    assert round(metrics.mean_accuracy(acc), 4) == m_printed


def test_table3_unique_row_is_a_misprint():
    # Table 3 prints mBERT-Unique as 71.91 / 42.17 / 25.54 with G 0.2216, M 0.4656.
    # Those accuracies give G 0.2214 and M 0.4654; a Chinese accuracy of 71.97 gives
    # both printed values, so the printed 71.91 is most likely a typo for 71.97.
    printed = [0.7191, 0.4217, 0.2554]
    assert round(metrics.gini(printed), 4) == 0.2214
    assert round(metrics.mean_accuracy(printed), 4) == 0.4654
    corrected = [0.7197, 0.4217, 0.2554]
    assert round(metrics.gini(corrected), 4) == 0.2216
    assert round(metrics.mean_accuracy(corrected), 4) == 0.4656


def test_references_examples():
    assert round(metrics.gini([0.8467, 0.5921, 0.4871]), 4) == 0.1245
    assert round(metrics.mean_accuracy([0.8467, 0.5921, 0.4871]), 4) == 0.6420
    assert round(metrics.gini([0.7861, 0.5025, 0.2886]), 4) == 0.2103
    assert round(metrics.gini([0.8724, 0.5838, 0.4619]), 4) == 0.1427
    assert round(metrics.gini([0.8526, 0.3268, 0.3365]), 4) == 0.2312


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_gini_equal_values_is_zero(n):
    assert metrics.gini([0.4] * n) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_gini_one_hot_is_n_minus_one_over_n(n):
    values = [0.0] * n
    values[1] = 0.9
    assert metrics.gini(values) == pytest.approx((n - 1) / n)


def test_gini_hand_worked():
    # [1, 2, 3]: L = 0, 1/6, 1/2, 1; B = (1/3)(1/12 + 1/3 + 3/4) = 7/18; G = 1 - 14/18 =
    # 2/9.
    assert metrics.gini([3, 1, 2]) == pytest.approx(2 / 9)
    # [1, 3]: L = 0, 1/4, 1; B = (1/2)(1/8 + 5/8) = 3/8; G = 1/4.
    assert metrics.gini([1, 3]) == pytest.approx(0.25)
    # Scale does not matter (percent or fraction give the same G).
    assert metrics.gini([84.67, 59.21, 48.71]) == pytest.approx(
        metrics.gini([0.8467, 0.5921, 0.4871])
    )


def test_gini_all_zero_is_zero():
    assert metrics.gini([0.0, 0.0, 0.0]) == 0.0


@pytest.mark.parametrize(
    "bad,match",
    [
        ([], "no values"),
        ([0.5, float("nan")], "finite"),
        ([0.5, -0.1], "non-negative"),
        ([[0.1, 0.2]], "1-D"),
    ],
)
def test_gini_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        metrics.gini(bad)
    with pytest.raises(ValueError, match=match):
        metrics.mean_accuracy(bad)


def test_mean_accuracy():
    assert metrics.mean_accuracy([0.2, 0.4, 0.9]) == pytest.approx(0.5)


def test_lorenz_curve():
    x, y = metrics.lorenz_curve([3, 1])
    np.testing.assert_allclose(x, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(y, [0.0, 0.25, 1.0])
    # The area between the diagonal and the curve is G/2.
    x, y = metrics.lorenz_curve([0.8467, 0.5921, 0.4871])
    area_b = np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))
    assert 1 - 2 * area_b == pytest.approx(metrics.gini([0.8467, 0.5921, 0.4871]))


def test_per_language_accuracy():
    y = [0, 1, 2, 0, 1, 2]
    y_hat = [0, 1, 0, 0, 0, 0]
    lang = ["zho_Hans"] * 3 + ["bod_Tibt"] * 3
    acc = metrics.per_language_accuracy(y, y_hat, lang)
    assert list(acc) == ["zho_Hans", "bod_Tibt"]  # order of first appearance
    assert acc["zho_Hans"] == pytest.approx(2 / 3)
    assert acc["bod_Tibt"] == pytest.approx(1 / 3)
    bal = metrics.language_balance(y, y_hat, lang)
    # [1/3, 2/3] -> G = 1/6 (as [1, 2]: L = 0, 1/3, 1; B = (1/2)(1/6 + 2/3) = 5/12).
    assert bal["G"] == pytest.approx(1 / 6)
    assert bal["M"] == pytest.approx(0.5)


def test_per_language_accuracy_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        metrics.per_language_accuracy([0, 1], [0], ["a", "a"])
    with pytest.raises(ValueError, match="no predictions"):
        metrics.per_language_accuracy([], [], [])


def _synthetic_predictions(n_sent=204, seed=1, p=(0.85, 0.6, 0.5)):
    """Parallel test predictions: language-major order, correctness correlated across
    languages."""
    rng = np.random.default_rng(seed)
    # a sentence hard in one language tends to be hard in all
    difficulty = rng.random(n_sent)
    y = rng.integers(0, 7, n_sent)
    ys, y_hats, langs, ids = [], [], [], []
    for code, acc in zip(["zho_Hans", "bod_Tibt", "mya_Mymr"], p):
        right = difficulty < acc
        ys.append(y)
        y_hats.append(np.where(right, y, (y + 1) % 7))
        langs += [code] * n_sent
        ids.append(np.arange(n_sent))
    return (
        np.concatenate(ys),
        np.concatenate(y_hats),
        np.array(langs),
        np.concatenate(ids),
    )


def _slow_bootstrap(y, y_hat, lang, ids, n_boot, seed):
    """Loop reference: the same draws as bootstrap_ci, scored one resample at a time."""
    languages = list(dict.fromkeys(lang.tolist()))
    uniq = np.unique(ids)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    acc = np.zeros((n_boot, len(languages)))
    for b in range(n_boot):
        chosen = uniq[draws[b]]
        for k, code in enumerate(languages):
            rows = {
                i: r for r, i in zip(np.flatnonzero(lang == code), ids[lang == code])
            }
            correct = [y[rows[i]] == y_hat[rows[i]] for i in chosen]
            acc[b, k] = np.mean(correct)
    return languages, acc


def test_bootstrap_matches_loop_reference():
    y, y_hat, lang, ids = _synthetic_predictions(n_sent=30)
    ci = metrics.bootstrap_ci(y, y_hat, lang, n_boot=50, seed=3, ids=ids)
    languages, acc = _slow_bootstrap(y, y_hat, lang, ids, n_boot=50, seed=3)
    for k, code in enumerate(languages):
        lo, hi = np.percentile(acc[:, k], [2.5, 97.5])
        assert ci["accuracy"][code]["low"] == pytest.approx(lo)
        assert ci["accuracy"][code]["high"] == pytest.approx(hi)
    g = [metrics.gini(row) for row in acc]
    assert ci["G"]["low"] == pytest.approx(np.percentile(g, 2.5))
    assert ci["G"]["high"] == pytest.approx(np.percentile(g, 97.5))
    m = acc.mean(axis=1)
    assert ci["M"]["low"] == pytest.approx(np.percentile(m, 2.5))


def test_bootstrap_estimates_and_width():
    y, y_hat, lang, ids = _synthetic_predictions()
    ci = metrics.bootstrap_ci(y, y_hat, lang, ids=ids)
    acc = metrics.per_language_accuracy(y, y_hat, lang)
    for code, value in acc.items():
        interval = ci["accuracy"][code]
        assert interval["estimate"] == pytest.approx(value)
        assert interval["low"] < value < interval["high"]
        # Normal approximation of a binomial 95% interval: 2 * 1.96 * sqrt(p(1-p)/n).
        expected = 2 * 1.96 * math.sqrt(value * (1 - value) / 204)
        assert interval["high"] - interval["low"] == pytest.approx(expected, rel=0.2)
    assert ci["G"]["estimate"] == pytest.approx(metrics.gini(list(acc.values())))
    assert ci["G"]["low"] < ci["G"]["estimate"] < ci["G"]["high"]
    assert ci["M"]["low"] < ci["M"]["estimate"] < ci["M"]["high"]
    assert ci["n_boot"] == 1000 and ci["level"] == 0.95


def test_bootstrap_is_paired_across_languages():
    # Two languages right and wrong on exactly the same sentences: a paired resample
    # always gives them equal accuracy, so every resampled G is 0. Unpaired resampling
    # would not.
    rng = np.random.default_rng(0)
    right = rng.random(100) < 0.6
    y = np.zeros(200, dtype=int)
    y_hat = np.concatenate([np.where(right, 0, 1)] * 2)
    lang = np.array(["a"] * 100 + ["b"] * 100)
    ci = metrics.bootstrap_ci(y, y_hat, lang, n_boot=200)
    assert ci["G"]["low"] == pytest.approx(0.0, abs=1e-12)
    assert ci["G"]["high"] == pytest.approx(0.0, abs=1e-12)
    assert ci["accuracy"]["a"]["high"] > ci["accuracy"]["a"]["low"]


def test_bootstrap_pairs_by_ids_not_by_row_order():
    y, y_hat, lang, ids = _synthetic_predictions(n_sent=50)
    ordered = metrics.bootstrap_ci(y, y_hat, lang, n_boot=100, ids=ids)
    perm = np.random.default_rng(5).permutation(len(y))
    shuffled = metrics.bootstrap_ci(
        y[perm], y_hat[perm], lang[perm], n_boot=100, ids=ids[perm]
    )
    # Language order follows first appearance, so compare by name.
    for code in ordered["accuracy"]:
        assert shuffled["accuracy"][code] == pytest.approx(ordered["accuracy"][code])
    assert shuffled["G"] == pytest.approx(ordered["G"])


def test_bootstrap_is_deterministic_and_seeded():
    y, y_hat, lang, ids = _synthetic_predictions(n_sent=40)
    a = metrics.bootstrap_ci(y, y_hat, lang, n_boot=100, seed=7)
    b = metrics.bootstrap_ci(y, y_hat, lang, n_boot=100, seed=7)
    c = metrics.bootstrap_ci(y, y_hat, lang, n_boot=100, seed=8)
    assert a == b
    assert a != c


def test_bootstrap_is_fast():
    y, y_hat, lang, ids = _synthetic_predictions()
    start = time.perf_counter()
    metrics.bootstrap_ci(y, y_hat, lang, n_boot=1000, ids=ids)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_boot": 0}, "n_boot"),
        ({"level": 1.0}, "level"),
        ({"ids": [1, 2]}, "equal lengths"),
    ],
)
def test_bootstrap_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.bootstrap_ci([0, 1, 1], [0, 1, 0], ["a", "a", "b"], **kwargs)


def test_seed_summary():
    runs = [
        {"accuracy": {"zho_Hans": 0.5, "bod_Tibt": 0.3}},
        {"accuracy": {"bod_Tibt": 0.5, "zho_Hans": 0.7}, "G": 0.5, "M": 0.9},
    ]
    s = metrics.seed_summary(runs)
    assert s["n_runs"] == 2
    assert s["accuracy"]["zho_Hans"]["mean"] == pytest.approx(0.6)
    assert s["accuracy"]["zho_Hans"]["std"] == pytest.approx(math.sqrt(0.02))
    assert s["accuracy"]["bod_Tibt"]["mean"] == pytest.approx(0.4)
    # Run 0's G from [0.3, 0.5] is 1/8 ([3, 5]: B = (1/2)(3/16 + 11/16) = 7/16); run 1
    # gives 0.5.
    assert s["G"]["mean"] == pytest.approx((1 / 8 + 0.5) / 2)
    assert s["M"]["mean"] == pytest.approx((0.4 + 0.9) / 2)
    single = metrics.seed_summary(runs[:1])
    assert math.isnan(single["G"]["std"])


def test_seed_summary_rejects_bad_runs():
    with pytest.raises(ValueError, match="no runs"):
        metrics.seed_summary([])
    with pytest.raises(ValueError, match="run 0 has no 'accuracy'"):
        metrics.seed_summary([{"G": 0.1}])
    with pytest.raises(ValueError, match="run 1 has languages"):
        metrics.seed_summary([{"accuracy": {"a": 0.1}}, {"accuracy": {"b": 0.1}}])
