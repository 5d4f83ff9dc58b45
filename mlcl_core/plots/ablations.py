"""Chapter 6's figures: G and M against tau with their intervals, and a forest plot of
each ablation row's paired difference from the full model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from mlcl_core.plots.style import NEUTRAL, PALETTE

_STATS = (
    ("M", "M (mean accuracy), higher is better"),
    ("G", "G (Gini), lower is better"),
)


def plot_tau_curve(curve: pd.DataFrame, searched_tau: float) -> plt.Figure:
    """M and G against tau (log scale), each point with its 95 % bootstrap interval
    over test sentences; the searched tau (the full model's) is drawn as a star.

    ``curve``: :func:`mlcl_core.ablation_report.tau_curve` (columns tau, M, M_low,
    M_high, G, G_low, G_high)."""
    if curve.empty:
        raise ValueError("plot_tau_curve: no tau point")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    tau = curve["tau"].to_numpy(float)
    for ax, (stat, label) in zip(axes, _STATS, strict=True):
        mid = curve[stat].to_numpy(float)
        err = np.vstack([mid - curve[f"{stat}_low"], curve[f"{stat}_high"] - mid])
        ax.errorbar(tau, mid, yerr=err, fmt="o-", color=PALETTE[0], capsize=4)
        hit = np.isclose(tau, searched_tau)
        ax.plot(tau[hit], mid[hit], "*", ms=16, color=PALETTE[3], label="searched tau")
        ax.set_xscale("log")
        ax.set_xticks(tau, [f"{t:g}" for t in tau])
        ax.minorticks_off()
        ax.set_xlabel("tau (contrastive temperature)")
        ax.set_title(label)
    axes[0].legend(loc="best")
    seeds = int(curve["n_seeds"].min()) if "n_seeds" in curve else None
    runs = f"{seeds} seed(s); " if seeds else ""
    fig.suptitle(f"MLCL against tau ({runs}95 % intervals over test sentences)")
    fig.tight_layout()
    return fig


def plot_differences(differences: pd.DataFrame, reference: str = "MLCL") -> plt.Figure:
    """Forest plot: each row's M and G minus ``reference``'s with its 95 % paired
    bootstrap interval; a row whose interval excludes 0 (outside the noise) is drawn
    in colour, one inside it in grey.

    ``differences``: :func:`mlcl_core.ablations.difference_table`."""
    if differences.empty:
        raise ValueError("plot_differences: no row")
    rows = list(differences.index)
    y = np.arange(len(rows))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.5 * len(rows) + 1.6), sharey=True)
    for ax, (stat, label) in zip(axes, _STATS, strict=True):
        d = differences[stat].to_numpy(float)
        low = differences[f"{stat}_low"].to_numpy(float)
        high = differences[f"{stat}_high"].to_numpy(float)
        outside = (low > 0) | (high < 0)
        for yi, di, lo, hi, out in zip(y, d, low, high, outside, strict=True):
            color = PALETTE[3] if out else NEUTRAL
            ax.errorbar(
                di, yi, xerr=[[di - lo], [hi - di]], fmt="o", color=color, capsize=4
            )
            ax.annotate(
                f"{di:+.3f}",
                (hi, yi),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=color,
            )
        ax.axvline(0, color="black", lw=0.8)
        ax.margins(x=0.2)  # room for the labels right of the intervals
        ax.xaxis.set_major_locator(MaxNLocator(5))  # readable tick labels
        ax.set_xlabel(f"{stat} minus {reference}'s")
        ax.set_title(label.split(",")[0])
    axes[0].set_yticks(y, rows)
    fig.suptitle(
        f"Each row minus {reference} (95 % paired intervals; colour: outside the noise)"
    )
    fig.tight_layout()
    return fig
