"""Figures of the adapter chapter: parameter counts, SimAdapter attention, MetaAdapter
curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from mlcl_core.corpora import language_name
from mlcl_core.plots.style import ATTENTION_CMAP, NEUTRAL, language_color


def parameter_pivot(table: pd.DataFrame) -> pd.DataFrame:
    """Counts as a readable table: one row per (profile, component), columns per kind
    and state."""
    wide = table.pivot_table(
        index=["profile", "component"],
        columns="kind",
        values=["trainable", "frozen"],
        aggfunc="sum",
        fill_value=0,
    )
    return wide.swaplevel(axis=1).sort_index(axis=1)


def plot_parameter_counts(table: pd.DataFrame, kind: str) -> plt.Figure:
    """Parameters per component for each profile (log scale), trainable vs frozen, for
    ``kind``."""
    rows = table[table["kind"] == kind]
    profiles = list(dict.fromkeys(rows["profile"]))
    fig, axes = plt.subplots(
        1, len(profiles), figsize=(5.5 * len(profiles), 3.2), squeeze=False
    )
    for ax, profile in zip(axes[0], profiles):
        part = rows[rows["profile"] == profile]
        y = np.arange(len(part))
        ax.barh(y, part["trainable"], color="tab:orange", label="trainable")
        ax.barh(
            y, part["frozen"], left=part["trainable"], color="tab:blue", label="frozen"
        )
        ax.set_yticks(y, part["component"])
        ax.set_xscale("log")
        # room for the smallest bar and the labels
        ax.set_xlim(part["total"].min() / 4, part["total"].max() * 6)
        ax.set_xlabel("parameters")
        ax.set_title(f"{profile} geometry, {kind}")
        for yi, total in zip(y, part["total"]):
            ax.text(total, yi, f" {total / 1e6:.2f} M", va="center", fontsize=8)
        ax.invert_yaxis()
    axes[0][0].legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_attention_heatmaps(
    attention: Mapping[str, Sequence[Sequence[float]]], languages: Sequence[str]
) -> plt.Figure:
    """SimAdapter attention per layer: rows are the input's language, columns the
    adapters.

    ``attention`` maps each input language to its (layers, N) mean attention.
    """
    weights = np.array([attention[lang] for lang in languages])  # (N_in, L, N)
    num_layers = weights.shape[1]
    fig, axes = plt.subplots(
        1, num_layers, figsize=(3.4 * num_layers + 0.8, 3.2), squeeze=False
    )
    vmin, vmax = float(weights.min()), float(weights.max())
    names = [language_name(lang) for lang in languages]
    for layer, ax in enumerate(axes[0]):
        image = ax.imshow(
            weights[:, layer, :], vmin=vmin, vmax=vmax, cmap=ATTENTION_CMAP
        )
        for i in range(len(languages)):
            for j in range(len(languages)):
                # dark text on the bright end of viridis
                bright = weights[i, layer, j] > (vmin + vmax) / 2
                ax.text(
                    j,
                    i,
                    f"{weights[i, layer, j]:.3f}",
                    ha="center",
                    va="center",
                    color="k" if bright else "w",
                    fontsize=8,
                )
        ax.set_xticks(range(len(languages)), names, rotation=30, ha="right")
        ax.set_yticks(
            range(len(languages)), names if layer == 0 else [""] * len(languages)
        )
        ax.set_title(f"layer {layer + 1}")
        ax.set_xlabel("adapter")
    axes[0][0].set_ylabel("language of the input")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="mean attention")
    return fig


def plot_attention_selection(
    attention: Mapping[str, Sequence[Sequence[float]]],
    languages: Sequence[str],
    layer: int,
    lang: str,
) -> plt.Figure:
    """One input language at one layer (1-based): its attention over the language
    adapters."""
    weights = np.asarray(attention[lang])[layer - 1]  # (N,)
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    colors = [language_color(lang) if other == lang else NEUTRAL for other in languages]
    ax.bar([language_name(x) for x in languages], weights, color=colors)
    ax.axhline(1 / len(languages), color="k", lw=0.8, ls="--", label="uniform")
    ax.set_ylabel("mean attention")
    ax.set_title(f"{language_name(lang)} input, layer {layer}")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_meta_curve(meta: Mapping[str, Sequence[float]]) -> plt.Figure:
    """MetaAdapter meta-training: mean support loss (at theta0), query loss (at theta'),
    eps_t."""
    steps = np.arange(1, len(meta["support_loss"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(
        steps, meta["support_loss"], marker=".", label="support loss at $\\theta_0$"
    )
    ax.plot(steps, meta["query_loss"], marker=".", label="query loss at $\\theta'$")
    ax.set_xlabel("outer step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("cross-entropy (mean over languages)")
    eps_ax = ax.twinx()
    eps_ax.plot(steps, meta["eps"], color="tab:gray", ls="--", label="$\\epsilon_t$")
    eps_ax.set_ylabel("outer step size $\\epsilon_t$")
    lines = ax.get_legend_handles_labels()[0] + eps_ax.get_legend_handles_labels()[0]
    ax.legend(
        lines, [line.get_label() for line in lines], loc="upper right", fontsize=8
    )
    fig.tight_layout()
    return fig
