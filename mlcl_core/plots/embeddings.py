"""The geometry of contrastive embeddings (chapter 3): temperature curves, 2-D maps,
retrieval.

``collect_embeddings`` runs a model over a loader and keeps its
``text_emb``/``speech_emb``; ``retrieval_accuracy`` asks whether a sentence's nearest
neighbour in another language is its translation; the ``plot_*`` functions draw the
chapter's figures and return the figure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mlcl_core.corpora import language_name
from mlcl_core.losses import anchor_gradients
from mlcl_core.outputs import move_to
from mlcl_core.plots.style import language_color


@torch.no_grad()
def collect_embeddings(
    model: torch.nn.Module, loader: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """``text_emb``/``speech_emb`` (K, N, P) numpy arrays, ``y`` (N,), ``ids`` and
    ``langs`` over a loader.

    The model runs in eval mode (no dropout); its training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    text, speech, y, ids, langs = [], [], [], [], None
    try:
        # the trainer may have moved the model: its batches go where it is
        first = next(iter(model.parameters()), None)
        for batch in loader:
            out = model(batch if first is None else move_to(batch, first.device))
            text.append(out.extras["text_emb"].float().cpu())
            speech.append(out.extras["speech_emb"].float().cpu())
            y.append(batch["y"].cpu())
            ids += list(batch["ids"])
            langs = tuple(batch["langs"])
    finally:
        model.train(was_training)
    return {
        "text_emb": torch.cat(text, 1).numpy(),
        "speech_emb": torch.cat(speech, 1).numpy(),
        "y": torch.cat(y).numpy(),
        "ids": ids,
        "langs": langs,
    }


def retrieval_accuracy(emb: np.ndarray, langs: Sequence[str]) -> pd.DataFrame:
    """Cross-language retrieval: for each ordered language pair (src, tgt), the share of
    src sentences whose nearest tgt sentence (cosine) is their own translation.

    Args:
        emb: (K, N, P) embeddings; row n of every language is the same sentence.
        langs: the K language codes.

    Returns:
        Columns ``src``, ``tgt``, ``accuracy`` (chance is 1/N), one row per ordered
        pair.
    """
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3 or emb.shape[0] != len(langs):
        raise ValueError(
            f"emb must be (K, N, P) with K = len(langs) = {len(langs)}, got {emb.shape}"
        )
    unit = emb / np.linalg.norm(emb, axis=-1, keepdims=True).clip(min=1e-12)
    rows = []
    for s, src in enumerate(langs):
        for t, tgt in enumerate(langs):
            if s != t:
                nearest = (unit[s] @ unit[t].T).argmax(axis=1)  # (N,)
                rows.append(
                    {
                        "src": src,
                        "tgt": tgt,
                        "accuracy": float((nearest == np.arange(len(nearest))).mean()),
                    }
                )
    return pd.DataFrame(rows)


def pca_2d(points: np.ndarray) -> np.ndarray:
    """(M, P) -> (M, 2): projection on the first two principal components (centred
    SVD)."""
    centred = points - points.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_loss_vs_tau(taus: Sequence[float], pos_sim: float, neg_sims: Sequence[float]):
    """One anchor's NT-Xent loss as a function of tau, for fixed similarities."""
    negs = torch.tensor(list(neg_sims), dtype=torch.float64)
    loss = [anchor_gradients(pos_sim, negs, t)[0].item() for t in taus]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(taus, loss, marker="o")
    ax.set(
        xscale="log",
        xlabel="temperature tau",
        ylabel="NT-Xent loss of one anchor",
        title=f"positive sim {pos_sim}, {len(negs)} negatives",
    )
    ax.grid(alpha=0.3)
    return fig


def plot_negative_weights(
    taus: Sequence[float], pos_sim: float, neg_sims: Sequence[float]
):
    """Share of the total push each negative receives (its softmax weight among
    negatives) vs tau."""
    negs = torch.tensor(list(neg_sims), dtype=torch.float64)
    shares = np.array(
        [
            (g / g.sum()).numpy()
            for g in (anchor_gradients(pos_sim, negs, t)[2] for t in taus)
        ]
    )
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for k, s in enumerate(neg_sims):
        ax.plot(taus, shares[:, k], marker=".", label=f"negative, sim {s:+.2f}")
    ax.set(
        xscale="log",
        xlabel="temperature tau",
        ylabel="share of the gradient on negatives",
        title="hard vs easy negatives",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_embedding_maps(
    states: dict[str, dict[str, Any]], labels: Sequence[str], key: str = "text_emb"
):
    """2-D PCA maps of ``key`` embeddings, one row per state (e.g. before/after),
    coloured by language (left) and by topic (right)."""
    fig, axes = plt.subplots(
        len(states), 2, figsize=(10, 4.2 * len(states)), squeeze=False
    )
    for row, (title, emb) in enumerate(states.items()):
        k, n, _ = emb[key].shape
        xy = pca_2d(emb[key].reshape(k * n, -1)).reshape(k, n, 2)
        for x, lang in enumerate(emb["langs"]):
            axes[row, 0].scatter(
                xy[x, :, 0],
                xy[x, :, 1],
                s=8,
                alpha=0.6,
                label=language_name(lang),
                color=language_color(lang),
            )
        flat, topics = xy.reshape(k * n, 2), np.tile(emb["y"], k)
        for c, lab in enumerate(labels):
            axes[row, 1].scatter(
                flat[topics == c, 0], flat[topics == c, 1], s=8, alpha=0.6, label=lab
            )
        axes[row, 0].set_title(f"{title}: by language")
        axes[row, 1].set_title(f"{title}: by topic")
    axes[0, 0].legend(fontsize=8, markerscale=2)
    axes[0, 1].legend(fontsize=7, markerscale=2)
    for ax in axes.flat:
        ax.set(xlabel="PC 1", ylabel="PC 2")
    fig.tight_layout()
    return fig


def plot_retrieval(tables: dict[str, pd.DataFrame]):
    """Grouped bars: retrieval accuracy per ordered language pair, one bar per state."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(tables)
    for i, (title, df) in enumerate(tables.items()):
        pos = np.arange(len(df)) + i * width
        ax.bar(pos, df["accuracy"], width=width, label=title)
    first = next(iter(tables.values()))
    ax.set_xticks(np.arange(len(first)) + 0.4 - width / 2)
    ax.set_xticklabels(
        [
            f"{language_name(s)}→{language_name(t)}"
            for s, t in zip(first["src"], first["tgt"])
        ],
        rotation=20,
        fontsize=8,
    )
    ax.set(ylabel="nearest neighbour is the translation", ylim=(0, 1))
    ax.legend()
    return fig


def plot_speech_retrieval(
    tables: dict[str, pd.DataFrame], chance: float, target: float | None = None
):
    """Text -> speech and speech -> text top-1 retrieval of the same sentence per
    language (one panel per direction, one bar per state, e.g. before/after training),
    with the chance level 1/N as a dashed line.

    ``tables`` maps a state to :func:`mlcl_core.pretrain.evaluate.text_speech_retrieval`
    output (columns ``lang``, ``text_to_speech``, ``speech_to_text``); ``target``, if
    given, is drawn as a dotted line (and the axis reaches it)."""
    directions = {"text_to_speech": "text → speech", "speech_to_text": "speech → text"}
    width_in = max(9.0, 3.0 * len(tables) + 3.0)  # room for every bar's label
    fig, axes = plt.subplots(1, 2, figsize=(width_in, 3.4), sharey=True)
    width = 0.8 / len(tables)
    top = max(float(t[list(directions)].to_numpy().max()) for t in tables.values())
    for ax, (col, title) in zip(axes, directions.items(), strict=True):
        for i, (state, df) in enumerate(tables.items()):
            pos = np.arange(len(df)) + i * width
            bars = ax.bar(pos, df[col], width=width, label=state)
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
        first = next(iter(tables.values()))
        ax.set_xticks(np.arange(len(first)) + 0.4 - width / 2)
        ax.set_xticklabels([language_name(lang) for lang in first["lang"]])
        ax.axhline(
            chance, color="red", ls="--", lw=1, label=f"chance (1/{round(1 / chance)})"
        )
        if target is not None:
            ax.axhline(
                target, color="gray", ls=":", lw=1.2, label=f"target ({target:g})"
            )
        high = max(1.3 * top, 3 * chance, 1.1 * (target or 0))
        ax.set(title=title, ylim=(0, high))
    axes[0].set_ylabel("top-1: own sentence found")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
