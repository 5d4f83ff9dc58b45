"""One colour per language in every figure, and one theme."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from mlcl_core.plots import style  # noqa: E402  (after the backend is chosen)


def test_book_languages_have_fixed_distinct_colours():
    colours = style.language_palette(["zho_Hans", "bod_Tibt", "mya_Mymr", "eng_Latn"])
    assert len(set(colours)) == 4
    assert style.language_color("zho_Hans") == colours[0]
    assert style.NEUTRAL not in colours


def test_other_languages_get_a_stable_colour_whatever_the_order():
    first = style.language_palette(["khm_Khmr", "tha_Thai", "zho_Hans"])
    second = style.language_palette(["zho_Hans", "tha_Thai", "khm_Khmr"])
    assert first == second[::-1]
    assert first[0] not in style.LANGUAGE_COLORS.values()


def test_bad_language_code():
    with pytest.raises(ValueError):
        style.language_color("")


def test_theme_applies_the_palette():
    style.set_theme()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert matplotlib.colors.to_hex(cycle[0]) == style.PALETTE[0]
    assert matplotlib.rcParams["axes.spines.top"] is False


def test_plots_use_the_language_colours():
    import pandas as pd

    from mlcl_core.plots.data import plot_durations

    audio = pd.DataFrame(
        {
            "lang": ["bod_Tibt"] * 3 + ["zho_Hans"] * 3,
            "seconds": [1.0, 2.0, 2.5, 1.5, 1.0, 3.0],
        }
    )
    fig = plot_durations(audio)
    faces = [
        matplotlib.colors.to_hex(ax.patches[0].get_facecolor()[:3]) for ax in fig.axes
    ]
    assert faces == style.language_palette(["bod_Tibt", "zho_Hans"])
