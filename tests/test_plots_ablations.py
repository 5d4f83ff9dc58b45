"""Chapter 6's figures: what is drawn equals the tau curve and the difference table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from mlcl_core.plots import ablations as P
from mlcl_core.plots.style import NEUTRAL, PALETTE


def test_tau_curve_draws_each_point_and_stars_the_searched_tau():
    curve = pd.DataFrame(
        {
            "tau": [0.01, 0.07, 0.5],
            "M": [0.4, 0.5, 0.45],
            "M_low": [0.35, 0.44, 0.4],
            "M_high": [0.45, 0.55, 0.5],
            "G": [0.1, 0.05, 0.08],
            "G_low": [0.05, 0.02, 0.04],
            "G_high": [0.15, 0.09, 0.12],
        }
    )
    fig = P.plot_tau_curve(curve, 0.07)
    m_ax, g_ax = fig.axes
    np.testing.assert_allclose(m_ax.lines[0].get_ydata(), curve["M"])
    np.testing.assert_allclose(g_ax.lines[0].get_xdata(), curve["tau"])
    star = m_ax.lines[-1]
    assert list(star.get_xdata()) == [0.07] and list(star.get_ydata()) == [0.5]
    assert m_ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="no tau point"):
        P.plot_tau_curve(curve.iloc[:0], 0.07)


def test_difference_forest_colours_rows_outside_the_noise():
    diff = pd.DataFrame(
        {
            "M": [-0.2, 0.01],
            "M_low": [-0.3, -0.05],
            "M_high": [-0.1, 0.06],
            "G": [0.0, 0.02],
            "G_low": [-0.02, -0.01],
            "G_high": [0.03, 0.05],
        },
        index=["w/o adapters", "w/o LCL"],
    )
    fig = P.plot_differences(diff)
    m_ax, g_ax = fig.axes
    ticks = dict(zip(m_ax.get_yticks(), [t.get_text() for t in m_ax.get_yticklabels()]))
    assert ticks == {1: "w/o adapters", 0: "w/o LCL"}  # the first row on top
    colours = [
        to_hex(line.get_color()) for line in m_ax.lines if line.get_marker() == "o"
    ]
    assert colours == [PALETTE[3], NEUTRAL]
    g_colours = [
        to_hex(line.get_color()) for line in g_ax.lines if line.get_marker() == "o"
    ]
    assert g_colours == [NEUTRAL, NEUTRAL]
    with pytest.raises(ValueError, match="no row"):
        P.plot_differences(diff.iloc[:0])
