"""Data-parallel MLCL training (2 CPU processes, gloo, as torchrun) equals one process.

Both runs train the same small MLCL model (same seed, dropout off) for a few steps on
the same global batches; the two processes each read half of every batch and gather the
contrastive embeddings with gradient. The mean of the two processes' losses must equal
the single-process loss of each step, and the weights after training must be equal, to
float tolerance. Speech is seeded noise (no synthesis needed): only the arithmetic is
under test.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from conftest import SMALL_MODEL, uncached

from mlcl_core.batching import ParallelDataset, make_loader
from mlcl_core.config import make_config
from mlcl_core.corpora import Corpus, load_sib200
from mlcl_core.distributed import ShardedBatchSampler, init_from_env
from mlcl_core.features import corpus_features
from mlcl_core.model import build_mlcl
from mlcl_core.training import Trainer

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
SMALL = {
    **SMALL_MODEL,
    "max_seconds": 1.0,
    "max_text_len": 24,
    "text.dropout": 0.0,
    "fusion.dropout": 0.0,
    "batch_size": 8,
    "num_epochs": 2,
    "device": "cpu",
    "alpha": 0.3,
    "beta": 0.3,
}

# CM-BERT's scalar bias b is added to every score before a row softmax, which ignores
# it: its exact gradient is 0, its computed one float noise, and Adam turns noise of any
# size into steps of size lr, so its value after training is noise in both runs.
SHIFT_INVARIANT = {"fusion.b"}


def _load_wave(path: str) -> np.ndarray:
    rng = np.random.default_rng(list(path.encode()))
    return (0.1 * rng.standard_normal(int(16_000 * rng.uniform(0.5, 1.0)))).astype(
        np.float32
    )


class _Recording(Trainer):
    """A Trainer that keeps the loss of every training step."""

    def _train_step(self, batch):
        out = super()._train_step(batch)
        self.losses = getattr(self, "losses", []) + [out.loss.detach()]
        return out


def _train(kind: str) -> tuple[list[float], dict[str, torch.Tensor]]:
    """Build the model and train it; (per-step losses, final weights)."""
    torch.set_num_threads(1)
    full = load_sib200(languages=LANGS).select(subset=16)
    table = full.table[full.table["split"] == "train"].reset_index(drop=True)
    corpus = Corpus(full.name, table, full.languages, full.labels)
    speech = pd.DataFrame(
        [(str(i), lang, f"noise/{lang}/{i}") for lang in LANGS for i in table["id"]],
        columns=["id", "lang", "path"],
    )
    cfg = uncached(make_config("tiny", **{**SMALL, "adapter.kind": kind}))
    model = build_mlcl(cfg, corpus)
    feats = corpus_features(cfg, corpus, speech, model.audio_encoder, _load_wave)
    tokenizer = model.tokenizer
    loader = make_loader(
        ParallelDataset(
            corpus, "train", tokenizer, LANGS, cfg.data.max_text_len, feats
        ),
        cfg.train.batch_size,
        shuffle=True,
        seed=0,
    )
    trainer = _Recording(model, cfg.train, progress=False)
    trainer.fit(loader)
    losses = torch.stack(trainer.losses)
    if (
        torch.distributed.is_initialized()
    ):  # the global loss is the mean of the shards' losses
        torch.distributed.all_reduce(losses)
        losses /= torch.distributed.get_world_size()
    return losses.tolist(), {
        k: v.detach().clone() for k, v in model.state_dict().items()
    }


def _worker(rank: int, size: int, port: int, kind: str, out_dir: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(size),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    # Joined before the model is built, as a torchrun script does (README), so that
    # every process uses rank 0's tokenizer; the Trainer then finds the group there.
    init_from_env(torch.device("cpu"))
    losses, state = _train(kind)
    path = os.path.join(out_dir, f"rank{rank}.pt")
    torch.save({"losses": losses, "state": state}, path)
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["metaadapter"])
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, kind):
    single_losses, single_state = _train(kind)
    mp.spawn(_worker, args=(2, _free_port(), kind, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert len(single_losses) == 4  # 16 sentences, batch 8, 2 epochs
    for got in ranks:
        assert got["losses"] == pytest.approx(single_losses, rel=1e-5, abs=1e-6)
        assert got["state"].keys() == single_state.keys()
        bad = [
            name
            for name, value in single_state.items()
            if name not in SHIFT_INVARIANT
            and not torch.allclose(got["state"][name], value, rtol=1e-4, atol=1e-6)
        ]
        assert not bad
    # The trained weights moved: equal-at-init alone would not show anything.
    assert single_losses[0] != pytest.approx(single_losses[-1])


def test_sharded_batch_sampler_splits_every_batch_in_rank_order():
    base = [[0, 1, 2, 3, 4], [5, 6, 7, 8], [9]]
    shards = [list(ShardedBatchSampler(base, r, 2)) for r in range(2)]
    assert shards == [[[0, 1], [5, 6]], [[2, 3], [7, 8]]]
    with pytest.raises(ValueError, match="rank 2 outside"):
        ShardedBatchSampler(base, 2, 2)
