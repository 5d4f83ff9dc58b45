"""Chapter 1 figures and the audio table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcl_core.corpora import load_sib200
from mlcl_core.plots.data import (
    audio_table,
    plot_duration_vs_syllables,
    plot_durations,
    plot_label_distribution,
)


def test_label_distribution_counts_every_sentence():
    corpus = load_sib200(languages=["zho_Hans"])
    fig = plot_label_distribution(corpus)
    heights = sum(p.get_height() for p in fig.axes[0].patches)
    assert heights == len(corpus)


def test_durations_one_panel_per_language():
    audio = pd.DataFrame(
        {"lang": ["zho_Hans"] * 3 + ["bod_Tibt"] * 2, "seconds": [1.0, 2, 3, 4, 5]}
    )
    assert len(plot_durations(audio).axes) == 2


def test_duration_vs_syllables_fit():
    x = np.arange(1, 30)
    _, slope, r = plot_duration_vs_syllables(x, 0.27 * x + 0.5)
    assert abs(slope - 0.27) < 1e-9 and r > 0.999


def test_audio_table_escapes_text():
    html = audio_table(
        [{"label": "Tibetan", "text": "<b>བཀྲ</b>", "wave": np.zeros(1600, np.float32)}]
    )
    assert html.count("<audio") == 1 and "&lt;b&gt;བཀྲ" in html
    assert (
        audio_table([{"label": "empty", "text": "", "wave": np.zeros(0)}]).count(
            "<audio"
        )
        == 1
    )
