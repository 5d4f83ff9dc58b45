"""Embedding analysis of chapter 3: retrieval accuracy, PCA, the plots run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mlcl_core.outputs import ModelOutput
from mlcl_core.plots import embeddings as E


def test_retrieval_accuracy_by_hand():
    # Language 0 and 1 share sentences 0 and 1 exactly; sentence 2 of language 1 is
    # closest to 0's sentence 1.
    a = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    b = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0.9, 0.1]])
    df = E.retrieval_accuracy(np.stack([a, b]), ["x", "y"])
    assert df[["src", "tgt"]].values.tolist() == [["x", "y"], ["y", "x"]]
    # x->y: sentence 2 ([0,0,1]) nearest in y is row 2 (only one with z) -> 3/3;
    # y->x: row 2 of y is nearest to x's row 1 -> 2/3.
    assert df["accuracy"].tolist() == pytest.approx([1.0, 2 / 3])
    with pytest.raises(ValueError, match="K = len"):
        E.retrieval_accuracy(np.stack([a, b]), ["x"])


def test_pca_2d_keeps_the_main_direction():
    g = np.random.default_rng(0)
    pts = np.outer(g.normal(size=50), [3.0, 0, 0, 0]) + 0.01 * g.normal(size=(50, 4))
    xy = E.pca_2d(pts)
    assert xy.shape == (50, 2) and xy[:, 0].std() > 100 * xy[:, 1].std()


class _Fake(torch.nn.Module):
    def forward(self, batch):
        k, b = len(batch["langs"]), len(batch["y"])
        emb = torch.nn.functional.normalize(batch["x"], dim=-1)  # (K, B, P)
        return ModelOutput(
            loss=torch.zeros(()),
            logits=torch.zeros(k * b, 2),
            y=batch["y"].repeat(k),
            group=torch.zeros(k * b),
            extras={"text_emb": emb, "speech_emb": emb},
        )


class _Placed(_Fake):
    """A model with weights on ``meta``: records where its batches arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1, device="meta"))
        self.seen = []

    def forward(self, batch):
        self.seen.append(batch["x"].device.type)
        return super().forward({**batch, "x": torch.ones(2, len(batch["y"]), 3)})


def test_collect_embeddings_sends_batches_to_the_models_device():
    model = _Placed()
    batch = {"langs": ("a", "b"), "ids": ["1"], "y": torch.tensor([0])}
    E.collect_embeddings(model, [{**batch, "x": torch.randn(2, 1, 3)}])
    assert model.seen == ["meta"]


def test_collect_embeddings_concatenates_batches_and_restores_mode():
    x = torch.randn(2, 5, 3)
    batches = [
        {
            "langs": ("a", "b"),
            "ids": ["1", "2"],
            "y": torch.tensor([0, 1]),
            "x": x[:, :2],
        },
        {
            "langs": ("a", "b"),
            "ids": ["3", "4", "5"],
            "y": torch.tensor([1, 1, 0]),
            "x": x[:, 2:],
        },
    ]
    model = _Fake().train()
    emb = E.collect_embeddings(model, batches)
    assert emb["text_emb"].shape == (2, 5, 3) and emb["ids"] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert emb["y"].tolist() == [0, 1, 1, 1, 0] and model.training
    assert (
        E.retrieval_accuracy(emb["text_emb"], emb["langs"])["accuracy"]
        .between(0, 1)
        .all()
    )


def test_plots_return_figures():
    emb = {
        "text_emb": np.random.default_rng(0).normal(size=(2, 6, 4)),
        "y": np.array([0, 1, 0, 1, 0, 1]),
        "langs": ("zho_Hans", "bod_Tibt"),
    }
    assert E.plot_embedding_maps({"before": emb, "after": emb}, ["a", "b"]).axes
    assert E.plot_loss_vs_tau([0.05, 0.1, 1.0], 0.8, [0.9, 0.1]).axes
    assert E.plot_negative_weights([0.05, 0.1, 1.0], 0.8, [0.9, 0.1]).axes
    df = E.retrieval_accuracy(emb["text_emb"], emb["langs"])
    assert E.plot_retrieval({"before": df, "after": df}).axes


def test_plots_show_the_computed_values():
    taus, pos, negs = [0.05, 0.1, 1.0], 0.8, [0.9, 0.1]
    # one anchor's NT-Xent by hand: -log softmax of the positive among (pos, negs) / tau
    loss = [
        -np.log(np.exp(pos / t) / (np.exp(pos / t) + sum(np.exp(n / t) for n in negs)))
        for t in taus
    ]
    (line,) = E.plot_loss_vs_tau(taus, pos, negs).axes[0].lines
    assert list(line.get_xdata()) == taus and np.allclose(line.get_ydata(), loss)
    # each negative's share of the push: its softmax weight among the negatives
    lines = E.plot_negative_weights(taus, pos, negs).axes[0].lines
    for k, line in enumerate(lines):
        share = [np.exp(negs[k] / t) / sum(np.exp(n / t) for n in negs) for t in taus]
        assert np.allclose(line.get_ydata(), share)
    assert len(lines) == 2
    df = pd.DataFrame(
        {
            "src": ["zho_Hans", "bod_Tibt"],
            "tgt": ["bod_Tibt", "zho_Hans"],
            "accuracy": [0.25, 0.75],
        }
    )
    later = df.assign(accuracy=[0.5, 1.0])
    bars = E.plot_retrieval({"before": df, "after": later}).axes[0].patches
    assert [b.get_height() for b in bars] == [0.25, 0.75, 0.5, 1.0]


def test_embedding_map_plots_the_pca_coordinates():
    rng = np.random.default_rng(0)
    # points on a line in 4-D (plus tiny noise): PC 1 is the line, PC 2 almost nothing
    t = rng.normal(size=(2, 6, 1))
    emb = {
        "text_emb": t * np.array([1.0, 2.0, 0.0, -1.0])
        + 1e-3 * rng.normal(size=(2, 6, 4)),
        "y": np.array([0, 1, 0, 1, 0, 1]),
        "langs": ("zho_Hans", "bod_Tibt"),
    }
    xy = E.pca_2d(emb["text_emb"].reshape(12, 4))
    assert np.allclose(
        np.abs(xy[:, 0]), np.abs((t.reshape(12) - t.mean()) * np.sqrt(6)), atol=1e-2
    )
    assert np.abs(xy[:, 1]).max() < 1e-2
    ax_lang, ax_topic = E.plot_embedding_maps({"after": emb}, ["a", "b"]).axes
    by_lang = [c.get_offsets() for c in ax_lang.collections]
    assert np.allclose(np.concatenate(by_lang), xy)  # language by language, in order
    by_topic = {c.get_label(): c.get_offsets() for c in ax_topic.collections}
    topics = np.tile(emb["y"], 2)
    assert np.allclose(by_topic["a"], xy[topics == 0]) and np.allclose(
        by_topic["b"], xy[topics == 1]
    )
