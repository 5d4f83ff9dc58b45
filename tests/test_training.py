"""The trainer on a toy model: evaluation rows, early stopping, parameter groups, hooks,
and resume after a SIGKILL mid-epoch ending exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcl_core.config import TrainConfig
from mlcl_core.runtime import resolve_device
from mlcl_core.training import Evaluation, Trainer

ROOT = Path(__file__).resolve().parents[1]

# A toy "parallel" task: K=2 languages, B sentences per batch, rows language-major like
# the real models. Dropout and a shuffled loader make the run depend on every RNG the
# trainer seeds.
TOY = textwrap.dedent("""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from mlcl_core.outputs import ModelOutput

    LANGS = ("aaa_Latn", "bbb_Latn")

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.adapter = nn.Linear(8, 8)
            self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

        def forward(self, batch):
            x = batch["x"]  # (K, B, 8)
            k, b, _ = x.shape
            logits = self.net(x + self.adapter(x)).reshape(k * b, 3)  # (R, C)
            y = batch["y"].repeat(k)  # (R,)
            group = torch.arange(k).repeat_interleave(b)  # (R,)
            loss = nn.functional.cross_entropy(logits, y)
            return ModelOutput(loss, logits, y, group, parts={"ce": loss.item()})

    def make_data(n, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, n, 8, generator=g)  # (K, N, 8)
        x[1] = x[1] * 0.5 + 0.3 * torch.randn(n, 8, generator=g)  # a noisier second language
        y = (x[0, :, 0] > 0).long() + (x[0, :, 1] > 0.5).long()
        return [{"id": f"s{i}", "x": x[:, i], "y": y[i]} for i in range(n)]

    def collate(items):
        return {"ids": [it["id"] for it in items], "langs": LANGS,
                "x": torch.stack([it["x"] for it in items], 1), "y": torch.stack([it["y"] for it in items])}

    def loaders(seed=0):
        train = DataLoader(make_data(40, 1), batch_size=8, shuffle=True, collate_fn=collate,
                           generator=torch.Generator().manual_seed(seed))
        dev = DataLoader(make_data(24, 2), batch_size=8, shuffle=False, collate_fn=collate)
        return train, dev
""")

RUN = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    sys.path.insert(0, sys.argv[1])
    from toy import Toy, loaders
    from mlcl_core.config import TrainConfig
    from mlcl_core.runtime import seed_everything
    from mlcl_core.training import Trainer

    ckpt_dir, kill_at, every, out = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    torch.set_num_threads(1)
    seed_everything(0)
    model = Toy()
    train, dev = loaders()
    cfg = TrainConfig(num_epochs=4, batch_size=8, lr=5e-3, patience=10, seed=3, device="cpu")

    def on_step(trainer, state):
        if state["global_step"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    trainer = Trainer(model, cfg, checkpoint_dir=ckpt_dir, on_step=on_step, checkpoint_every=every, progress=False)
    fit = trainer.fit(train, dev)
    ev = trainer.evaluate(dev)
    params = [float(v) for p in model.state_dict().values() for v in p.flatten()]
    json.dump({"y_hat": ev.y_hat.tolist(), "acc": ev.accuracy, "params": params, "resumed_from": fit.resumed_from,
               "history": [{k: v for k, v in h.items() if k != "seconds"} for h in fit.history]}, open(out, "w"))
""")


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("toy")
    (d / "toy.py").write_text(TOY)
    (d / "run.py").write_text(RUN)
    return d


@pytest.fixture
def toy(toy_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(toy_dir))
    import toy as module

    return module


def _run(toy_dir: Path, ckpt: Path, kill_at: int, every: int, out: Path) -> int:
    proc = subprocess.run(
        [
            sys.executable,
            str(toy_dir / "run.py"),
            str(toy_dir),
            str(ckpt),
            str(kill_at),
            str(every),
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode not in (0, -9):
        raise AssertionError(proc.stderr)
    return proc.returncode


@pytest.mark.parametrize(
    "kill_at,every", [(7, 0), (9, 3)], ids=["epoch-checkpoint", "step-checkpoint"]
)
def test_resume_after_sigkill_mid_epoch_matches_uninterrupted_run(
    toy_dir, tmp_path, kill_at, every
):
    # 5 batches per epoch: step 7 is inside epoch 2 (last checkpoint: end of epoch 1);
    # with a checkpoint every 3 steps, step 9 is killed after the mid-epoch checkpoint
    # at step 8.
    reference = tmp_path / "reference.json"
    assert _run(toy_dir, tmp_path / "ckpt_ref", -1, every, reference) == 0
    resumed = tmp_path / "resumed.json"
    assert _run(toy_dir, tmp_path / "ckpt", kill_at, every, resumed) == -9  # SIGKILL
    assert not resumed.exists()
    assert _run(toy_dir, tmp_path / "ckpt", -1, every, resumed) == 0
    a, b = json.loads(reference.read_text()), json.loads(resumed.read_text())
    assert b["resumed_from"] == (5 if every == 0 else 8)
    assert a["resumed_from"] is None
    assert a["params"] == b["params"]  # bit-identical weights
    assert a["y_hat"] == b["y_hat"] and a["acc"] == b["acc"]
    assert a["history"] == b["history"]
    assert len(a["history"]) == 4


def test_fit_keeps_best_dev_weights_and_stops_early(toy):
    torch.manual_seed(0)
    train, dev = toy.loaders()
    cfg = TrainConfig(
        num_epochs=12, batch_size=8, lr=0.05, patience=2, seed=1, device="cpu"
    )
    trainer = Trainer(toy.Toy(), cfg, progress=False)
    fit = trainer.fit(train, dev)
    scores = [h["dev_M"] for h in fit.history]
    assert fit.best_epoch == int(np.argmax(scores)) + 1
    assert fit.best_score == max(scores)
    # stopped early: the last `patience` epochs were no better than the best
    assert len(scores) < 12 and len(scores) - fit.best_epoch == 2
    assert trainer.evaluate(dev).M == pytest.approx(max(scores))
    # it learned something (3 classes, chance ~0.33)
    assert scores[fit.best_epoch - 1] > 0.5
    assert {"train_loss", "train_ce", "dev_G", "dev_acc_aaa_Latn"} <= set(
        fit.history[0]
    )


def test_evaluate_rows_and_accuracy(toy):
    train, dev = toy.loaders()
    trainer = Trainer(toy.Toy(), TrainConfig(device="cpu"), progress=False)
    ev = trainer.evaluate(dev)
    assert len(ev.y) == 48 and ev.languages == toy.LANGS
    assert (
        ev.ids[:3] == ["s0", "s1", "s2"]
        and ev.lang[0] == "aaa_Latn"
        and ev.lang[8] == "bbb_Latn"
    )
    manual = {
        g: float(np.mean((ev.y == ev.y_hat)[np.array(ev.lang) == g])) for g in toy.LANGS
    }
    assert ev.accuracy == pytest.approx(manual)
    assert ev.M == pytest.approx(np.mean(list(manual.values())))
    records = ev.to_records()
    assert records[0].keys() == {"id", "lang", "y", "y_hat"} and len(records) == 48
    both = Evaluation.concat([ev, ev])
    assert len(both.y) == 96 and both.accuracy == pytest.approx(manual)


def test_rows_that_are_not_language_major_are_rejected(toy):
    class Shuffled(toy.Toy):
        def forward(self, batch):
            out = super().forward(batch)
            out.group = out.group.flip(0)
            return out

    _, dev = toy.loaders()
    with pytest.raises(ValueError, match="row_ids"):
        Trainer(Shuffled(), TrainConfig(device="cpu"), progress=False).evaluate(dev)


def test_parameter_groups_give_adapters_their_own_lr(toy):
    trainer = Trainer(
        toy.Toy(), TrainConfig(lr=1e-4, adapter_lr=1e-2, device="cpu"), progress=False
    )
    lrs = {id(p): g["lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    decay = {
        id(p): g["weight_decay"]
        for g in trainer.optimizer.param_groups
        for p in g["params"]
    }
    model = trainer.model
    assert (
        lrs[id(model.adapter.weight)] == 1e-2 and lrs[id(model.net[0].weight)] == 1e-4
    )
    assert (
        decay[id(model.net[0].bias)] == 0.0 and decay[id(model.net[0].weight)] == 0.01
    )
    assert len(lrs) == len(list(model.parameters()))


def test_adversary_hook_runs_after_the_clean_backward(toy):
    calls = []

    class Spy:
        def attack(self, model, batch, loss_fn):
            grad = model.net[0].weight.grad
            calls.append(grad is not None and bool(grad.abs().sum() > 0))
            loss_fn().backward()  # extra gradients accumulate, as FGM/PGD do

    train, _ = toy.loaders()
    trainer = Trainer(
        toy.Toy(),
        TrainConfig(num_epochs=1, device="cpu"),
        adversary=Spy(),
        progress=False,
    )
    trainer.fit(train)
    assert calls == [True] * 5


def test_devices_and_bad_input():
    assert resolve_device("auto").type == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="checkpoint_every"):
        Trainer(torch.nn.Linear(2, 2), TrainConfig(device="cpu"), checkpoint_every=-1)


def test_linear_schedule_warms_up_then_decays_to_zero(toy):
    cfg = TrainConfig(
        lr=1e-3, adapter_lr=1e-2, schedule="linear", warmup=0.2, device="cpu"
    )
    trainer = Trainer(toy.Toy(), cfg, progress=False)
    trainer.total_steps = 10  # fit() sets it to num_epochs x batches per epoch
    factors = [trainer.lr_factor(s) for s in range(10)]
    assert factors[0] < factors[1] < factors[2] == 1.0  # 2 warm-up steps, then the peak
    assert all(a > b for a, b in zip(factors[2:], factors[3:])) and factors[
        -1
    ] == pytest.approx(0.125)
    trainer._set_lr(1)
    lrs = sorted({g["lr"] for g in trainer.optimizer.param_groups})
    assert lrs == pytest.approx([1e-3 * factors[1], 1e-2 * factors[1]])
    constant = Trainer(toy.Toy(), TrainConfig(device="cpu"), progress=False)
    constant.total_steps = 10
    assert [constant.lr_factor(s) for s in range(10)] == [1.0] * 10


@pytest.fixture
def one_thread():
    """One intra-op thread (bit-identical reductions between runs), restored
    afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _KilledError(Exception):
    """Stands in for a kill: raised from ``on_step``, after the last checkpoint was
    written."""


def _toy_fit(
    toy, cfg: TrainConfig, ckpt=None, kill_at: int = -1, steps: list | None = None
):
    """A fresh toy model (same init every call) trained with ``cfg``; (trainer, fit)."""
    from mlcl_core.training import seed_everything

    def on_step(trainer, state):
        if steps is not None:
            steps.append(
                (
                    state["global_step"],
                    sorted(g["lr"] for g in trainer.optimizer.param_groups),
                )
            )
        if state["global_step"] == kill_at:
            raise _KilledError

    seed_everything(0)
    train, dev = toy.loaders()
    trainer = Trainer(
        toy.Toy(), cfg, checkpoint_dir=ckpt, on_step=on_step, progress=False
    )
    return trainer, trainer.fit(train, dev)


def _params(model) -> list[float]:
    return [float(v) for p in model.state_dict().values() for v in p.flatten()]


def test_resume_after_the_best_epoch_keeps_the_best_weights(toy, tmp_path, one_thread):
    # dev M peaks at epoch 4 of 6 here; the kill in epoch 5 resumes from the epoch-4
    # checkpoint, so the best weights exist only in the checkpoint's best_state.
    cfg = TrainConfig(
        num_epochs=6, batch_size=8, lr=0.05, patience=10, seed=3, device="cpu"
    )
    ref, ref_fit = _toy_fit(toy, cfg)
    assert ref_fit.best_epoch == 4 < len(ref_fit.history) == 6
    with pytest.raises(_KilledError):
        _toy_fit(
            toy, cfg, tmp_path / "ckpt", kill_at=23
        )  # 5 steps an epoch: step 3 of epoch 5
    trainer, fit = _toy_fit(toy, cfg, tmp_path / "ckpt")
    assert (
        fit.resumed_from == 20
        and fit.best_epoch == 4
        and fit.best_score == ref_fit.best_score
    )
    assert _params(trainer.model) == _params(
        ref.model
    )  # the epoch-4 weights, not the last ones


def test_early_stopping_stops_and_a_stopped_checkpoint_stays_stopped(
    toy, tmp_path, one_thread
):
    cfg = TrainConfig(
        num_epochs=12, batch_size=8, lr=0.05, patience=2, seed=1, device="cpu"
    )
    first, fit = _toy_fit(toy, cfg, tmp_path / "ckpt")
    assert len(fit.history) < 12  # it stopped early ...
    assert (
        len(fit.history) - fit.best_epoch == 2
    )  # ... exactly `patience` epochs after the best
    steps: list = []
    again, refit = _toy_fit(toy, cfg, tmp_path / "ckpt", steps=steps)
    assert steps == []  # resuming a run that had stopped trains nothing more
    assert refit.history == fit.history and refit.best_epoch == fit.best_epoch
    assert _params(again.model) == _params(first.model)


def test_fit_feeds_the_global_step_to_the_linear_schedule(toy):
    # 2 epochs x 5 batches = 10 steps, warm-up int(0.2 * 10) = 2 steps: factors by hand
    # (s + 1) / 3 for s < 2, then (10 - s) / 8.
    cfg = TrainConfig(
        num_epochs=2,
        batch_size=8,
        lr=1e-3,
        adapter_lr=1e-2,
        schedule="linear",
        warmup=0.2,
        patience=10,
        device="cpu",
    )
    steps: list = []
    _toy_fit(toy, cfg, steps=steps)
    factors = [1 / 3, 2 / 3, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]
    assert [s for s, _ in steps] == list(range(1, 11))
    for (_, lrs), f in zip(steps, factors, strict=True):
        assert sorted(set(lrs)) == pytest.approx([1e-3 * f, 1e-2 * f])


@pytest.mark.parametrize(
    "profile,cls,decay",
    [("tiny", torch.optim.AdamW, {0.0, 0.01}), ("paper", torch.optim.Adam, {0.0})],
)
def test_optimizer_follows_the_profile(toy, profile, cls, decay):
    from mlcl_core.config import make_config

    cfg = make_config(profile, device="cpu", bf16=False).train
    trainer = Trainer(toy.Toy(), cfg, progress=False)
    assert type(trainer.optimizer) is cls
    assert {g["weight_decay"] for g in trainer.optimizer.param_groups} == decay
