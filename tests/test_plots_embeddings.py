"""Embedding analysis of chapter 3: retrieval accuracy, PCA, the plots run."""

from __future__ import annotations

import numpy as np
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
