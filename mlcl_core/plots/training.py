"""Figures of the training chapter: Lorenz curves, confusion matrices, training curves,
search trials.

Every function takes tables from :mod:`mlcl_core.tables` / :mod:`mlcl_core.results`
(``summary``, ``load_results``, ``load_predictions``) and :mod:`mlcl_core.search`
(``load_trials``) and returns a matplotlib figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mlcl_core.corpora import language_name
from mlcl_core.metrics import lorenz_curve
from mlcl_core.plots.style import CONFUSION_CMAP
from mlcl_core.tables import SYSTEM_NAMES


def _name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system)


def plot_lorenz(summary: pd.DataFrame, languages: Sequence[str]):
    """Lorenz curves of the systems' seed-averaged per-language accuracies, side by
    side."""
    n = len(summary)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), sharey=True, squeeze=False)
    for ax, (system, row) in zip(axes[0], summary.iterrows()):
        acc = np.array([row[lang] for lang in languages])
        x, y = lorenz_curve(acc)
        ax.fill_between(x, y, x, color="tab:red", alpha=0.2, label="A (inequality)")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="equality")
        ax.plot(x, y, "o-", color="tab:blue", ms=3, label="Lorenz")
        for xi, yi, lang in zip(
            x[1:], y[1:], [languages[i] for i in np.argsort(acc, kind="stable")]
        ):
            ax.annotate(
                language_name(lang)[:3],
                (xi, yi),
                fontsize=7,
                xytext=(-18, 4),
                textcoords="offset points",
            )
        ax.set_title(f"{_name(system)}\nG={row['G']:.3f}  M={row['M']:.3f}", fontsize=8)
        ax.set_xlabel("share of languages")
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("share of accuracy")
    axes[0, 0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def plot_confusions(
    predictions: pd.DataFrame,
    system: str,
    labels: Sequence[str],
    languages: Sequence[str],
):
    """Per-language confusion matrices (rows: gold, columns: predicted; all seeds
    pooled, row-normalised)."""
    preds = predictions[predictions["system"] == system]
    if preds.empty:
        raise ValueError(
            f"no predictions for system {system!r}; have "
            f"{sorted(predictions['system'].unique())}"
        )
    c = len(labels)
    fig, axes = plt.subplots(
        1, len(languages), figsize=(3.2 * len(languages), 3.3), squeeze=False
    )
    for ax, lang in zip(axes[0], languages):
        sub = preds[preds["lang"] == lang]
        counts = np.zeros((c, c))  # (gold, predicted)
        np.add.at(counts, (sub["y"].to_numpy(int), sub["y_hat"].to_numpy(int)), 1.0)
        rates = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
        ax.imshow(rates, vmin=0, vmax=1, cmap=CONFUSION_CMAP)
        ax.set_xticks(range(c), [lab[:10] for lab in labels], rotation=90, fontsize=7)
        ax.set_yticks(range(c), [lab[:10] for lab in labels], fontsize=7)
        acc = float(np.trace(counts) / max(counts.sum(), 1.0))
        ax.set_title(f"{language_name(lang)} (acc {acc:.2f})", fontsize=9)
        ax.set_xlabel("predicted")
    axes[0, 0].set_ylabel("gold")
    fig.suptitle(_name(system), fontsize=10)
    fig.tight_layout()
    return fig


def plot_curves(results: pd.DataFrame):
    """Training loss and dev M per epoch for each system (first seed; ``unique``: one
    line per language)."""
    fig, (ax_loss, ax_dev) = plt.subplots(1, 2, figsize=(10, 3.4))
    for system, rows in results.sort_values("seed").groupby("system", sort=False):
        for part, curve in rows.iloc[0]["curve"].items():
            if not curve:
                continue
            label = _name(system) + ("" if part == "all" else f" ({part})")
            epochs = [h["epoch"] for h in curve]
            (line,) = ax_loss.plot(
                epochs, [h["train_loss"] for h in curve], "o-", ms=3, label=label
            )
            ax_dev.plot(
                epochs,
                [h.get("dev_M", np.nan) for h in curve],
                "o-",
                ms=3,
                color=line.get_color(),
            )
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss")
    ax_dev.set(
        xlabel="epoch", ylabel="dev M", title="dev mean accuracy (early stopping score)"
    )
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_trials(trials: pd.DataFrame):
    """The search: objective per trial (with the running best), and where the trials
    fell in (alpha, beta)."""
    if trials.empty:
        raise ValueError("no trials to plot")
    fig, (ax_obj, ax_ab) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_obj.plot(trials.index, trials["loss"], "o", label="trial")
    ax_obj.plot(trials.index, trials["loss"].cummin(), "-", label="best so far")
    ax_obj.set(xlabel="trial", ylabel="(1 - M) + G on dev", title="objective")
    ax_obj.legend(fontsize=7)
    sc = ax_ab.scatter(
        trials["alpha"], trials["beta"], c=trials["loss"], cmap="viridis_r"
    )
    ax_ab.plot([0, 0.9], [0.9, 0], "k:", lw=0.8)
    ax_ab.set(
        xlabel="alpha (MCL)",
        ylabel="beta (LCL)",
        title="alpha + beta <= 0.9",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    fig.colorbar(sc, ax=ax_ab, label="objective")
    fig.tight_layout()
    return fig
