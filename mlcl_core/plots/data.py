"""Figures and audio tables of chapter 1 (data synthesis)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mlcl_core.corpora import SPLITS, Corpus, language_name
from mlcl_core.plots.style import NEUTRAL, language_color
from mlcl_core.speech.base import SAMPLE_RATE


def plot_label_distribution(corpus: Corpus) -> plt.Figure:
    """Bar chart: sentences per label, one bar group per label, one bar per split."""
    counts = (
        corpus.table.groupby(["label", "split"])
        .size()
        .unstack("split")
        .reindex(columns=list(SPLITS))
    )
    counts = counts.loc[list(corpus.labels)].fillna(0)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    counts.plot.bar(ax=ax, width=0.8)
    ax.set_xlabel("topic label")
    ax.set_ylabel("sentences")
    ax.set_title(f"{corpus.name}: label distribution per split")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_durations(audio: pd.DataFrame, bins: int = 40) -> plt.Figure:
    """Histograms of utterance duration (seconds), one panel per language, shared
    axes."""
    langs = list(dict.fromkeys(audio["lang"]))
    fig, axes = plt.subplots(
        1,
        len(langs),
        figsize=(3.6 * len(langs), 3),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    edges = np.linspace(0, audio["seconds"].max(), bins + 1)
    for ax, lang in zip(axes[0], langs):
        seconds = audio.loc[audio["lang"] == lang, "seconds"]
        sns.histplot(seconds, bins=edges, color=language_color(lang), ax=ax)
        ax.axvline(
            seconds.median(),
            color=NEUTRAL,
            ls="--",
            label=f"median {seconds.median():.1f} s",
        )
        ax.set_title(language_name(lang))
        ax.set_xlabel("seconds")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("utterances")
    fig.tight_layout()
    return fig


def plot_duration_vs_syllables(
    syllables: Sequence[int],
    seconds: Sequence[float],
    title: str = "Tibetan via bophono",
) -> tuple[plt.Figure, float, float]:
    """Scatter of duration against syllable count with a least-squares line; returns the
    figure, the slope (seconds per syllable) and the correlation."""
    x, y = np.asarray(syllables, float), np.asarray(seconds, float)
    slope, intercept = np.polyfit(x, y, 1)
    r = float(np.corrcoef(x, y)[0, 1])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(x, y, s=8, alpha=0.5)
    grid = np.linspace(0, x.max(), 2)
    ax.plot(
        grid,
        slope * grid + intercept,
        color="C3",
        label=f"{slope:.3f} s/syllable, r = {r:.3f}",
    )
    ax.set_xlabel("syllables (tsheg-separated)")
    ax.set_ylabel("speech seconds")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig, float(slope), r


def audio_table(rows: Sequence[dict], rate: int = SAMPLE_RATE) -> str:
    """HTML table with one row per item (``label``, ``text``, ``wave``): the text and an
    audio player with the wave embedded, for ``IPython.display.HTML``."""
    from IPython.display import Audio

    cells = []
    for row in rows:
        wave = np.asarray(row["wave"], dtype=np.float32).reshape(-1)
        wave = wave if len(wave) else np.zeros(1, np.float32)
        # normalising silence would divide by zero; our waves are already in [-1, 1]
        player = Audio(
            wave, rate=rate, normalize=bool(np.abs(wave).max() > 0)
        )._repr_html_()
        cells.append(
            f"<tr><td><b>{html.escape(row['label'])}</b></td>"
            f"<td "
            f"style='text-align:left'>{html.escape(row['text'])}</td><td>{player}</td></tr>"
        )
    return (
        "<table><tr><th>language</th><th>text</th><th>audio</th></tr>"
        + "".join(cells)
        + "</table>"
    )
