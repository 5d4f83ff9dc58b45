"""Widgets for exploring the chapters in JupyterLab, each with a static default view.

Every explorer is an ``ipywidgets.VBox``: controls first, then its view (HTML and/or a
PNG image), which is recomputed whenever a control changes. :func:`show` displays the
live widget in a kernel, and in the book build (no kernel behind the page) the view of
the default choice as plain HTML and PNG, so the rendered page still shows a figure.

- :func:`sentence_player`: pick a sentence, hear it in every language beside its text.
- :func:`results_explorer`: pick a system, seed and language from the results store; see
  the run's accuracy per language, G, M and the language's confusion matrix.
- :func:`tau_explorer`: a temperature slider on the worked NT-Xent example of chapter 3.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import HTML, Image, display

from mlcl_core.corpora import language_name
from mlcl_core.display import in_book_build
from mlcl_core.losses import anchor_gradients
from mlcl_core.metrics import gini, per_language_accuracy
from mlcl_core.plots.data import audio_table
from mlcl_core.plots.style import CONFUSION_CMAP, NEUTRAL, language_color
from mlcl_core.results import load_predictions
from mlcl_core.speech.cache import load_wave
from mlcl_core.tables import SYSTEM_NAMES


def figure_png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes (for ``widgets.Image``); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def static_views(explorer: widgets.Box) -> list:
    """The explorer's current view as IPython display objects (HTML, PNG), controls left
    out."""
    views = []
    for child in explorer.children:
        if isinstance(child, widgets.Box):
            views += static_views(child)
        elif isinstance(child, widgets.Image):
            views.append(Image(data=child.value, format="png"))
        elif isinstance(child, widgets.HTML):
            views.append(HTML(child.value))
    return views


def show(explorer: widgets.Box) -> None:
    """Display the live explorer, or in the book build its default view (static)."""
    if in_book_build():
        display(*static_views(explorer))
    else:
        display(explorer)


# ----------------------------------------------------------- chapter 1: sentences
def sentence_player(
    table: pd.DataFrame,
    audio: pd.DataFrame,
    languages: Sequence[str],
    max_options: int = 500,
) -> widgets.VBox:
    """Pick a sentence; its text and synthesised speech in every language, side by side.

    Args:
        table: the corpus table (``Corpus.table``): ``id`` and one text column per
            language.
        audio: the speech table (``corpus_audio``): ``id``, ``lang``, ``path``,
            ``seconds``.
        languages: the languages to show, in order.
        max_options: at most this many sentences in the picker (shortest speech first).
    """
    missing = [lang for lang in languages if lang not in table.columns]
    if not languages or missing:
        raise ValueError(
            f"languages {missing or list(languages)} have no text column in the table"
        )
    clips = audio[audio["lang"].isin(languages)]
    complete = clips.groupby("id")["lang"].nunique() == len(languages)
    seconds = (
        clips.groupby("id")["seconds"].mean()[complete[complete].index].sort_values()
    )
    if seconds.empty:
        raise ValueError(
            "no sentence has speech in every one of the languages: synthesise first"
        )
    texts = table.set_index("id")
    first = languages[0]
    options = [
        (f"{sid}: {texts.at[sid, first][:60]}", sid)
        for sid in seconds.index[:max_options]
    ]

    def view(sid: str) -> str:
        rows = clips[clips["id"] == sid].set_index("lang")
        return audio_table(
            [
                {
                    "label": language_name(lang),
                    "text": texts.at[sid, lang],
                    "wave": load_wave(rows.at[lang, "path"]),
                }
                for lang in languages
            ]
        )

    picker = widgets.Dropdown(
        options=options,
        value=options[0][1],
        description="sentence",
        layout=widgets.Layout(width="95%"),
    )
    out = widgets.HTML(view(picker.value))
    picker.observe(
        lambda change: setattr(out, "value", view(change["new"])), names="value"
    )
    return widgets.VBox([picker, out])


# ------------------------------------------------------- chapter 4: results store
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


# --------------------------------------------------------- chapter 3: temperature
def tau_view(
    pos_sim: float, neg_sims: Sequence[float], tau: float, taus: Sequence[float]
) -> tuple[str, plt.Figure]:
    """One anchor at temperature ``tau``: its loss (HTML line), the loss over ``taus``
    with ``tau`` marked, and each negative's share of the push at ``tau``."""
    negs = torch.tensor(list(neg_sims), dtype=torch.float64)
    loss, grad_pos, grad_negs = anchor_gradients(pos_sim, negs, tau)
    shares = (grad_negs / grad_negs.sum()).numpy()
    curve = [anchor_gradients(pos_sim, negs, t)[0].item() for t in taus]
    fig, (ax_loss, ax_share) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(taus, curve, color=NEUTRAL)
    ax_loss.axvline(tau, color=language_color("zho_Hans"), ls="--")
    ax_loss.plot([tau], [loss.item()], "o", color=language_color("zho_Hans"))
    ax_loss.set(
        xscale="log",
        xlabel="temperature tau",
        ylabel="NT-Xent loss of one anchor",
        title=f"tau = {tau:.3g}: loss {loss.item():.3f}",
    )
    ax_share.bar(
        [f"{s:+.2f}" for s in neg_sims], shares, color=language_color("bod_Tibt")
    )
    ax_share.axhline(
        1 / len(shares), color=NEUTRAL, lw=0.8, ls=":", label="equal shares"
    )
    ax_share.set(
        xlabel="similarity of the negative",
        ylabel="share of the push",
        ylim=(0, 1),
        title="where the gradient on negatives goes",
    )
    ax_share.legend()
    fig.tight_layout()
    text = (
        f"tau = {tau:.3g}: loss {loss.item():.4f}, "
        f"pull on the positive {-grad_pos.item():.3f}, share of the push on the "
        f"hardest negative {shares[int(np.argmax(neg_sims))]:.3f}"
    )
    return text, fig


def tau_explorer(
    pos_sim: float = 0.8,
    neg_sims: Sequence[float] = (0.75, 0.3, 0.0, -0.4),
    tau: float = 0.1,
    tau_range: tuple[float, float] = (0.01, 2.0),
) -> widgets.VBox:
    """A temperature slider (log scale) on one anchor with a positive at ``pos_sim`` and
    negatives at ``neg_sims`` (cosine similarities): its loss and where the push
    goes."""
    sims = [pos_sim, *neg_sims]
    if not neg_sims or any(not -1.0 <= s <= 1.0 for s in sims):
        raise ValueError(
            f"need at least one negative and similarities in [-1, 1], got {sims}"
        )
    low, high = tau_range
    if not 0 < low <= tau <= high:
        raise ValueError(f"need 0 < {low} <= tau = {tau} <= {high}")
    taus = np.geomspace(low, high, 60)
    slider = widgets.FloatLogSlider(
        value=tau,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=0.02,
        description="tau",
        readout_format=".3f",
        continuous_update=False,
    )
    text, image = widgets.HTML(), widgets.Image(format="png")

    def redraw(_change=None) -> None:
        line, fig = tau_view(pos_sim, neg_sims, slider.value, taus)
        text.value, image.value = f"<p>{html.escape(line)}</p>", figure_png(fig)

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, widgets.VBox([text, image])])
