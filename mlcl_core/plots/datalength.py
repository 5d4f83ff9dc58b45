"""Chapter 5's Figures 3-4: G or M against the amount of training data, for each
adapter initialisation, beside the values the paper's text states.

Our points (:func:`mlcl_core.datalength.curve_table`) sit on an axis of hours of our
synthesised training speech, with the training sentences per language on a second
x-axis; the paper's points (:func:`mlcl_core.paper_rows.figure34_reference`) are hours
of its mms speech, a far larger corpus, so they get their own panel and axis rather
than a common scale that would suggest the two are comparable.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mlcl_core.datalength import ADAPTER_NAMES
from mlcl_core.plots.style import PALETTE

#: One colour per adapter kind (none of the language colours).
ADAPTER_COLORS: dict[str, str] = {
    "simadapter": PALETTE[3],
    "metaadapter": PALETTE[9],
    "none": PALETTE[7],
}
ADAPTER_MARKERS: dict[str, str] = {"simadapter": "o", "metaadapter": "^", "none": "s"}
_LABELS = {"G": "G (Gini, lower is more balanced)", "M": "M (mean accuracy)"}


def _sentences_axis(ax, hours: np.ndarray, sentences: np.ndarray) -> None:
    """A top x-axis of training sentences per language, interpolated from the hours of
    the curve's sizes (both grow together, so the map is monotone)."""
    top = ax.secondary_xaxis(
        "top",
        functions=(
            lambda h: np.interp(h, hours, sentences),
            lambda n: np.interp(n, sentences, hours),
        ),
    )
    top.set_xticks(sentences)
    top.set_xlabel("training sentences per language (ours)")


def plot_data_length(curve: pd.DataFrame, reference: pd.DataFrame, stat: str):
    """``stat`` (``"G"`` or ``"M"``) against training data: left, our curve per adapter
    kind (mean over seeds, the band its 95 % bootstrap interval over test sentences,
    seeds pooled); right, the paper's stated points (``reference``: hours, adapter,
    G, M), NaN values left out. Returns the figure."""
    if stat not in _LABELS:
        raise ValueError(f"stat must be 'G' or 'M', got {stat!r}")
    fig, (ours, paper) = plt.subplots(
        1, 2, figsize=(9.0, 3.6), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    for kind, points in curve.groupby("adapter", sort=False):
        points = points.sort_values("hours")
        color = ADAPTER_COLORS.get(kind, PALETTE[9])
        name = ADAPTER_NAMES.get(kind, kind)
        seeds = int(points["n_seeds"].min())
        ours.fill_between(
            points["hours"],
            points[f"{stat}_low"],
            points[f"{stat}_high"],
            color=color,
            alpha=0.2,
            lw=0,
        )
        ours.plot(
            points["hours"],
            points[stat],
            "-",
            marker=ADAPTER_MARKERS.get(kind, "o"),
            color=color,
            label=f"{name} ({seeds} seed{'s' if seeds != 1 else ''})",
        )
    sizes = curve.drop_duplicates("sentences").sort_values("hours")
    _sentences_axis(ours, sizes["hours"].to_numpy(), sizes["sentences"].to_numpy())
    ours.set_xlabel("hours of training speech (ours: synthesised, 3 languages)")
    ours.set_ylabel(_LABELS[stat])
    ours.legend(
        fontsize=8, title="ours (band: 95 % bootstrap interval)", title_fontsize=8
    )
    for kind, points in reference.dropna(subset=[stat]).groupby("adapter", sort=False):
        paper.plot(
            points["hours"],
            points[stat],
            "--",
            marker=ADAPTER_MARKERS.get(kind, "s"),
            color=ADAPTER_COLORS.get(kind, PALETTE[9]),
            label=ADAPTER_NAMES.get(kind, kind),
        )
    paper.set_xlabel("hours of mms speech (paper)")
    paper.set_title("paper's text (its mms data)", fontsize=9)
    paper.legend(fontsize=8, title="paper", title_fontsize=8)
    fig.tight_layout()
    return fig
