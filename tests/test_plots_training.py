"""Smoke tests of the training chapter's figures: what is drawn equals the input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcl_core.metrics import lorenz_curve
from mlcl_core.plots import training as P

LANGS = ("zho_Hans", "bod_Tibt")


def test_lorenz_curves_follow_the_summary():
    summary = pd.DataFrame(
        {
            "zho_Hans": [0.8, 0.6],
            "bod_Tibt": [0.4, 0.6],
            "G": [0.167, 0.0],
            "M": [0.6, 0.6],
        },
        index=["combined", "mlcl"],
    )
    fig = P.plot_lorenz(summary, LANGS)
    for ax, (_system, row) in zip(fig.axes, summary.iterrows()):
        x, y = lorenz_curve(np.array([row["zho_Hans"], row["bod_Tibt"]]))
        lorenz = ax.lines[-1]
        np.testing.assert_allclose(lorenz.get_xdata(), x)
        np.testing.assert_allclose(lorenz.get_ydata(), y)
        assert f"G={row['G']:.3f}" in ax.get_title()
    assert fig.axes[0].get_title().startswith("BERT-Combined")


def test_confusions_are_row_normalised_counts():
    preds = pd.DataFrame(
        {
            "system": "mlcl",
            "lang": ["zho_Hans"] * 4 + ["bod_Tibt"] * 4,
            "y": [0, 0, 1, 1, 0, 0, 1, 1],
            "y_hat": [0, 1, 1, 1, 0, 0, 0, 0],
        }
    )
    fig = P.plot_confusions(preds, "mlcl", ["a", "b"], LANGS)
    zho, bod = fig.axes
    np.testing.assert_allclose(zho.images[0].get_array(), [[0.5, 0.5], [0.0, 1.0]])
    np.testing.assert_allclose(bod.images[0].get_array(), [[1.0, 0.0], [1.0, 0.0]])
    assert (
        zho.get_title() == "Chinese (acc 0.75)"
        and bod.get_title() == "Tibetan (acc 0.50)"
    )
    with pytest.raises(ValueError, match="no predictions for system 'unique'"):
        P.plot_confusions(preds, "unique", ["a", "b"], LANGS)


def test_curves_plot_each_systems_first_seed():
    curve = [
        {"epoch": 1, "train_loss": 2.0, "dev_M": 0.3},
        {"epoch": 2, "train_loss": 1.5, "dev_M": 0.4},
    ]
    other = [{"epoch": 1, "train_loss": 9.0, "dev_M": 0.9}]
    runs = pd.DataFrame(
        {
            "system": ["combined", "combined"],
            "seed": [1, 0],
            "curve": [{"all": other}, {"all": curve}],
        }
    )
    loss_ax, dev_ax = P.plot_curves(runs).axes[:2]
    (line,) = loss_ax.lines
    assert list(line.get_ydata()) == [2.0, 1.5] and line.get_label() == "BERT-Combined"
    assert list(dev_ax.lines[0].get_ydata()) == [0.3, 0.4]


def test_trials_plot_objective_and_running_best():
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2],
            "alpha": [0.1, 0.5, 0.3],
            "beta": [0.2, 0.1, 0.4],
            "loss": [0.9, 0.7, 0.8],
        }
    )
    obj_ax, ab_ax = P.plot_trials(trials).axes[:2]
    assert list(obj_ax.lines[0].get_ydata()) == [0.9, 0.7, 0.8]
    assert list(obj_ax.lines[1].get_ydata()) == [0.9, 0.7, 0.7]
    np.testing.assert_allclose(
        ab_ax.collections[0].get_offsets(), [[0.1, 0.2], [0.5, 0.1], [0.3, 0.4]]
    )
    with pytest.raises(ValueError, match="no trials"):
        P.plot_trials(trials.iloc[:0])
