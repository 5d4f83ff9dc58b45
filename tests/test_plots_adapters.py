"""Smoke tests of the adapter chapter's figures: what is drawn equals the input."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcl_core.plots import adapters as P

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
# lang -> (layers, N): 2 layers, 3 adapters
ATTENTION = {
    "zho_Hans": [[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]],
    "bod_Tibt": [[0.2, 0.7, 0.1], [0.1, 0.8, 0.1]],
    "mya_Mymr": [[0.3, 0.3, 0.4], [0.2, 0.2, 0.6]],
}


def _counts() -> pd.DataFrame:
    rows = []
    for profile, scale in (("tiny", 1), ("paper", 100)):
        for component, t, f in (("adapters", 50, 0), ("audio transformer", 0, 400)):
            rows.append(
                {
                    "profile": profile,
                    "kind": "simadapter",
                    "component": component,
                    "trainable": t * scale,
                    "frozen": f * scale,
                    "total": (t + f) * scale,
                }
            )
    return pd.DataFrame(rows)


def test_attention_heatmaps_show_the_given_weights():
    fig = P.plot_attention_heatmaps(ATTENTION, LANGS)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][:2]
    for layer, ax in enumerate(axes):
        shown = ax.images[0].get_array()
        expected = np.array([ATTENTION[lang][layer] for lang in LANGS])
        np.testing.assert_allclose(shown, expected)
        labels = sorted(t.get_text() for t in ax.texts)
        assert labels == sorted(f"{v:.3f}" for v in expected.ravel())
    assert [t.get_text() for t in axes[0].get_xticklabels()] == [
        "Chinese",
        "Tibetan",
        "Burmese",
    ]


def test_attention_selection_draws_one_languages_row():
    fig = P.plot_attention_selection(ATTENTION, LANGS, layer=2, lang="bod_Tibt")
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == ATTENTION["bod_Tibt"][1]
    assert ax.get_title() == "Tibetan input, layer 2"
    assert ax.lines[0].get_ydata()[0] == 1 / 3  # the uniform line


def test_meta_curve_plots_losses_and_step_sizes():
    meta = {
        "support_loss": [2.0, 1.8, 1.7],
        "query_loss": [2.1, 1.9, 1.6],
        "eps": [1.0, 0.66, 0.33],
    }
    fig = P.plot_meta_curve(meta)
    loss_ax, eps_ax = fig.axes
    assert [list(line.get_ydata()) for line in loss_ax.lines] == [
        meta["support_loss"],
        meta["query_loss"],
    ]
    assert list(eps_ax.lines[0].get_ydata()) == meta["eps"]
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3]


def test_parameter_counts_bars_and_pivot_hold_the_counts():
    counts = _counts()
    fig = P.plot_parameter_counts(counts, "simadapter")
    for ax, profile in zip(fig.axes, ("tiny", "paper")):
        part = counts[counts["profile"] == profile]
        widths = [bar.get_width() for bar in ax.patches]
        assert widths == list(part["trainable"]) + list(part["frozen"])
        assert ax.get_title() == f"{profile} geometry, simadapter"
    wide = P.parameter_pivot(counts)
    assert wide.loc[("paper", "adapters"), ("simadapter", "trainable")] == 5000
    assert wide.loc[("tiny", "audio transformer"), ("simadapter", "frozen")] == 400
