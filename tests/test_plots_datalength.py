"""Chapter 5's Figures 3-4: our curve per adapter kind beside the paper's stated points,
each on its own axis."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mlcl_core.paper_rows import figure34_reference
from mlcl_core.plots.datalength import plot_data_length


def _curve() -> pd.DataFrame:
    rows = []
    for kind, shift in (("simadapter", 0.0), ("metaadapter", 0.05)):
        for n, hours in ((25, 0.1), (50, 0.2), (100, 0.4)):
            m = 0.3 + n / 1000 + shift
            rows.append(
                {
                    "adapter": kind,
                    "sentences": n,
                    "hours": hours,
                    "M": m,
                    "M_low": m - 0.05,
                    "M_high": m + 0.05,
                    "G": 0.2 - n / 1000,
                    "G_low": 0.1,
                    "G_high": 0.3,
                    "n_seeds": 3,
                }
            )
    return pd.DataFrame(rows)


def test_figure_draws_our_curve_with_bands_and_the_papers_points_apart():
    fig = plot_data_length(_curve(), figure34_reference(), "M")
    ours, paper = fig.axes[:2]
    lines = {line.get_label(): line for line in ours.get_lines()}
    sim = lines["SimAdapter (3 seeds)"]
    assert list(sim.get_xdata()) == [0.1, 0.2, 0.4]
    assert np.allclose(sim.get_ydata(), [0.325, 0.35, 0.4])
    assert len(ours.collections) == 2  # one shaded interval per kind
    assert "hours of training speech" in ours.get_xlabel()
    assert (
        "M" in ours.get_ylabel()
        and "bootstrap" in ours.get_legend().get_title().get_text()
    )
    # the paper's panel: its hours (10, 50, 60) and its M values, on its own axis
    plines = {line.get_label(): line for line in paper.get_lines()}
    assert list(plines["MetaAdapter"].get_xdata()) == [10, 50, 60]
    assert np.allclose(plines["MetaAdapter"].get_ydata(), [0.5436, 0.5690, 0.5734])
    assert (
        "mms" in paper.get_xlabel()
        and paper.get_legend().get_title().get_text() == "paper"
    )
    # the top axis of ours counts sentences, at the curve's sizes
    (top,) = ours.child_axes
    assert "sentences" in top.get_xlabel()
    assert list(top.get_xticks()) == [25, 50, 100]
    plt.close(fig)


def test_g_figure_leaves_out_the_values_the_paper_does_not_state():
    fig = plot_data_length(_curve(), figure34_reference(), "G")
    paper = fig.axes[1]
    sim = {line.get_label(): line for line in paper.get_lines()}["SimAdapter"]
    assert list(sim.get_xdata()) == [10, 60]  # no G at 50 h in the paper's text
    plt.close(fig)
    with pytest.raises(ValueError, match="'G' or 'M'"):
        plot_data_length(_curve(), figure34_reference(), "accuracy")
