"""Widgets for exploring the chapters in JupyterLab, each with a static default view.

Every explorer is an ``ipywidgets.VBox``: controls first, then its view (HTML and/or a
PNG image), which is recomputed whenever a control changes. :func:`show` displays the
live widget in a kernel, and in the book build (no kernel behind the page) the view of
the default choice as plain HTML and PNG, so the rendered page still shows a figure.

- :func:`sentence_player` (chapter 1): pick a sentence, hear it in every language beside
  its text.
- :func:`attention_explorer` (chapter 2): pick a layer and an input language; see its
  SimAdapter attention over the language adapters.
- :func:`tau_explorer` (chapter 3): a temperature slider on the worked NT-Xent example.
- :func:`mlcl_core.plots.explore_results.results_explorer` (chapter 4): pick a system,
  seed and language from the results store; see the run's accuracy per language, G, M
  and the language's confusion matrix.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, Image, display

from mlcl_core.corpora import language_name
from mlcl_core.display import in_book_build
from mlcl_core.losses import anchor_gradients
from mlcl_core.plots.adapters import plot_attention_selection
from mlcl_core.plots.data import audio_table
from mlcl_core.plots.style import NEUTRAL, language_color
from mlcl_core.speech.cache import load_wave


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
    first: str | None = None,
) -> widgets.VBox:
    """Pick a sentence; its text and synthesised speech in every language, side by side.

    Args:
        table: the corpus table (``Corpus.table``): ``id`` and one text column per
            language.
        audio: the speech table (``corpus_audio``): ``id``, ``lang``, ``path``,
            ``seconds``.
        languages: the languages to show, in order.
        max_options: at most this many sentences in the picker (shortest speech first).
        first: the id of the sentence shown first (the static view of the rendered
            book); None: the shortest.
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
    if first is not None and first not in seconds.index:
        raise ValueError(f"sentence {first!r} has no speech in every language")
    texts = table.set_index("id")
    ids = list(seconds.index[:max_options])
    if first is not None and first not in ids:
        ids.insert(0, first)  # beyond the picker's shortest sentences
    options = [(f"{sid}: {texts.at[sid, languages[0]][:60]}", sid) for sid in ids]

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
        value=options[0][1] if first is None else first,
        description="sentence",
        layout=widgets.Layout(width="95%"),
    )
    out = widgets.HTML(view(picker.value))
    picker.observe(
        lambda change: setattr(out, "value", view(change["new"])), names="value"
    )
    return widgets.VBox([picker, out])


# ------------------------------------------------------ chapter 2: attention
def attention_explorer(
    attention: Mapping[str, Sequence[Sequence[float]]],
    languages: Sequence[str],
    layer: int | None = None,
    lang: str | None = None,
) -> widgets.VBox:
    """Pick a layer (1-based) and an input language; see that language's mean
    SimAdapter attention over the language adapters (``attention``: per input language,
    one row of weights per layer). Starts at ``layer`` and ``lang`` (None: the top
    layer, the last language)."""
    if not languages or any(x not in attention for x in languages):
        raise ValueError(f"attention has no rows for some of {list(languages)}")
    top = len(attention[languages[0]])
    layer, lang = layer or top, lang or languages[-1]
    if not 1 <= layer <= top or lang not in languages:
        raise ValueError(f"need layer in 1..{top} and lang in {list(languages)}")
    slider = widgets.IntSlider(value=layer, min=1, max=top, description="layer")
    picker = widgets.Dropdown(
        options=[(language_name(x), x) for x in languages],
        value=lang,
        description="language",
    )
    image = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        fig = plot_attention_selection(attention, languages, slider.value, picker.value)
        image.value = figure_png(fig)

    slider.observe(redraw, names="value")
    picker.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, picker]), image])


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
