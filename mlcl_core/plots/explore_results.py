"""Chapter 4's explorer of the results store: pick a system, a seed and a language; see
that run's accuracy per language, G, M and the language's confusion matrix.

Like every explorer of :mod:`mlcl_core.plots.widgets` it is an ``ipywidgets.VBox`` whose
default view :func:`mlcl_core.plots.widgets.show` puts into the rendered book.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from mlcl_core.corpora import language_name
from mlcl_core.metrics import gini, per_language_accuracy
from mlcl_core.plots.style import CONFUSION_CMAP
from mlcl_core.plots.widgets import figure_png
from mlcl_core.results import load_predictions
from mlcl_core.tables import SYSTEM_NAMES


def run_view(
    preds: pd.DataFrame, lang: str, labels: Sequence[str] | None = None
) -> tuple[str, plt.Figure]:
    """One run's predictions: an HTML line of accuracy per language, G and M, and the
    confusion matrix of ``lang`` (rows gold, columns predicted, row-normalised)."""
    acc = per_language_accuracy(preds["y"], preds["y_hat"], preds["lang"])
    if lang not in acc:
        raise ValueError(f"language {lang!r} not in this run; have {list(acc)}")
    values = np.array(list(acc.values()))
    parts = [f"<b>{html.escape(language_name(k))}</b> {v:.3f}" for k, v in acc.items()]
    text = (
        "accuracy "
        + ", ".join(parts)
        + f"; G = {gini(values):.4f}, M = {values.mean():.4f}"
    )
    sub = preds[preds["lang"] == lang]
    c = max(int(preds[["y", "y_hat"]].to_numpy().max()) + 1, len(labels or []))
    counts = np.zeros((c, c))  # (gold, predicted)
    np.add.at(counts, (sub["y"].to_numpy(int), sub["y_hat"].to_numpy(int)), 1.0)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    names = [lab[:12] for lab in labels] if labels else [str(i) for i in range(c)]
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    sns.heatmap(
        pd.DataFrame(rates, index=names, columns=names),
        vmin=0,
        vmax=1,
        cmap=CONFUSION_CMAP,
        annot=True,
        fmt=".2f",
        annot_kws={"fontsize": 7},
        cbar=False,
        square=True,
        ax=ax,
    )
    ax.set(
        xlabel="predicted",
        ylabel="gold",
        title=f"{language_name(lang)}: accuracy {acc[lang]:.3f}",
    )
    return text, fig


def _run_options(preds: pd.DataFrame, system: str) -> list[tuple[str, str]]:
    """(label, run_id) of ``system``'s runs by seed; the label adds the run id where a
    seed has several runs (the search stores its trials beside the table's runs)."""
    runs = preds.loc[preds["system"] == system, ["seed", "run_id"]].drop_duplicates()
    runs = runs.sort_values(["seed", "run_id"])
    several = runs["seed"].duplicated(keep=False)
    return [
        (f"{seed} ({rid})" if many else str(seed), rid)
        for seed, rid, many in zip(runs["seed"], runs["run_id"], several, strict=True)
    ]


def results_explorer(
    results_dir: str | Path,
    experiment: str,
    labels: Sequence[str] | None = None,
    run_ids: Sequence[str] | None = None,
) -> widgets.VBox:
    """Pick a system, a seed and a language from the stored runs of ``experiment``
    (``run_ids``: only those, e.g. a table's); see that run's accuracies, G, M and the
    language's confusion matrix (``labels``: the class names)."""
    preds = load_predictions(results_dir, experiment, run_ids)
    if preds.empty:
        raise ValueError(
            f"no stored runs in {Path(results_dir) / experiment}: run chapter 4 first"
        )
    systems = list(dict.fromkeys(preds["system"]))
    system = widgets.Dropdown(
        options=[(SYSTEM_NAMES.get(s, s), s) for s in systems],
        value="mlcl" if "mlcl" in systems else systems[-1],
        description="system",
    )
    seed = widgets.Dropdown(description="seed")
    langs = list(dict.fromkeys(preds["lang"]))
    lang = widgets.Dropdown(
        options=[(language_name(x), x) for x in langs],
        value=langs[0],
        description="language",
    )
    text, image = widgets.HTML(), widgets.Image(format="png")

    def redraw(_change=None) -> None:
        if seed.value is None:
            return
        run = preds[preds["run_id"] == seed.value]
        line, fig = run_view(run, lang.value, labels)
        name = SYSTEM_NAMES.get(system.value, system.value)
        text.value = f"<p>{html.escape(name)}, seed {seed.label}: {line}</p>"
        image.value = figure_png(fig)

    def new_system(_change=None) -> None:
        seed.value = None  # setting the options must not redraw a run of another system
        seed.options = _run_options(preds, system.value)
        seed.index = 0

    seed.observe(redraw, names="value")
    lang.observe(redraw, names="value")
    system.observe(new_system, names="value")
    new_system()
    return widgets.VBox(
        [widgets.HBox([system, seed, lang]), widgets.VBox([text, image])]
    )
