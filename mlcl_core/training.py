"""The trainer: one loop for every model of the book (MLCL and the baselines).

nanoGPT-style split: the :class:`Trainer` sees a model whose ``forward(batch)`` returns
a :class:`~mlcl_core.outputs.ModelOutput` and data loaders; it knows nothing of text or
speech. It does

- device choice (``TrainConfig.device``: ``auto`` = CUDA when present, else CPU) and
  bf16 autocast on CUDA only;
- AdamW or Adam (``TrainConfig.optimizer``) with two parameter groups: adapter/fusion
  parameters at ``adapter_lr`` and the rest at ``lr`` (a model names its adapter/fusion
  parameters with ``adapter_parameters()``; without that method, parameters whose name
  contains ``adapter`` or ``fusion`` are taken); no weight decay on biases and LayerNorm
  weights;
- gradient clipping (``grad_clip``);
- early stopping on the dev split. The dev score is M, the mean per-language accuracy:
  it is what the paper's tables rank by, and unlike ``M - G`` it never prefers a model
  that is worse on every language but more equal; the best epoch's weights are kept and
  loaded at the end;
- deterministic seeds: every epoch reseeds torch/numpy/random and the train loader's
  generator from ``(seed, epoch)``, so the batch order and dropout masks of an epoch do
  not depend on what ran before it in the process;
- a checkpoint at the end of every epoch (and optionally every ``checkpoint_every``
  steps), written atomically; ``fit`` resumes from it after a kill, mid-epoch included,
  and ends with the same weights and metrics as an uninterrupted run (exactly equal on
  CPU);
- data-parallel training under ``torchrun`` (:mod:`mlcl_core.distributed`): DDP, a
  shard of each batch per process, rank 0 writes checkpoints, all evaluate all of dev;
- hooks: ``adversary.attack(model, batch, loss_fn)`` after the clean backward pass,
  before clipping (FGM/PGD); ``on_step(trainer, state)`` after each optimiser step.

Evaluation returns one row per (sentence, language): id, lang, y, y_hat, and the
per-language accuracy, M and G computed from them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mlcl_core import distributed
from mlcl_core.config import TrainConfig
from mlcl_core.display import show_progress
from mlcl_core.outputs import Evaluation, FitResult, ModelOutput, move_to, row_ids
from mlcl_core.runtime import (
    load_checkpoint,
    make_optimizer,
    resolve_device,
    restore_rng,
    save_checkpoint,
    seed_everything,
)

CHECKPOINT_NAME = "checkpoint.pt"


class Adversary(Protocol):
    """Adversarial training hook (FGM, PGD): adds adversarial gradients after the clean
    ones."""

    def attack(
        self, model: nn.Module, batch: dict, loss_fn: Callable[[], torch.Tensor]
    ) -> None: ...


class Trainer:
    """Train and evaluate any model that returns a ``ModelOutput``.

    Args:
        model: the model; ``forward(batch) -> ModelOutput``.
        cfg: the training configuration.
        checkpoint_dir: where ``checkpoint.pt`` is written each epoch and read on
            resume; ``None`` disables checkpoints.
        adversary: optional adversarial-training hook (see :class:`Adversary`).
        on_step: optional callback ``on_step(trainer, state)`` after each optimiser
            step; ``state`` has ``epoch``, ``step`` (in the epoch) and ``global_step``.
        checkpoint_every: also checkpoint every this many steps inside an epoch (0: only
            at the end of each epoch).
        progress: show tqdm progress bars.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        checkpoint_dir: str | Path | None = None,
        adversary: Adversary | None = None,
        on_step: Callable[[Trainer, dict], None] | None = None,
        checkpoint_every: int = 0,
        progress: bool = True,
    ) -> None:
        if checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}")
        self.cfg = cfg
        self.device = distributed.init_from_env(resolve_device(cfg.device))
        self.model = model.to(self.device)
        # DDP under torchrun for training steps; self.model for state dicts and eval
        self.net = distributed.wrap_ddp(self.model, self.device)
        self.checkpoint_dir = (
            Path(checkpoint_dir) if checkpoint_dir is not None else None
        )
        self.adversary = adversary
        self.on_step = on_step
        self.checkpoint_every = checkpoint_every
        self.progress = show_progress(progress)  # quiet in the rendered book
        self.use_bf16 = cfg.bf16 and self.device.type == "cuda"
        self.optimizer = make_optimizer(
            cfg.optimizer, self._param_groups(), cfg.lr, self.device
        )
        for group in self.optimizer.param_groups:
            group["base_lr"] = group["lr"]
        self.total_steps: int | None = None  # set by fit() from the loader's length

    def lr_factor(self, global_step: int) -> float:
        """Multiplier of every group's base learning rate at optimiser step
        ``global_step`` (0-based).

        A pure function of the step, so a resumed run continues the schedule exactly
        without storing scheduler state."""
        if self.cfg.schedule == "constant" or not self.total_steps:
            return 1.0
        warm = int(self.cfg.warmup * self.total_steps)
        if global_step < warm:
            return (global_step + 1) / (warm + 1)
        return max(
            0.0, (self.total_steps - global_step) / max(1, self.total_steps - warm)
        )

    def _set_lr(self, global_step: int) -> None:
        factor = self.lr_factor(global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor

    # ----------------------------------------------------------------- optimiser
    def _param_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups: (adapter/fusion vs rest) x (decay vs no decay)."""
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no trainable parameters")
        if hasattr(self.model, "adapter_parameters"):
            adapter_ids = {id(p) for p in self.model.adapter_parameters()}
        else:
            adapter_ids = {id(p) for n, p in named if "adapter" in n or "fusion" in n}
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for n, p in named:
            no_decay = p.ndim < 2 or "norm" in n.lower()
            groups.setdefault((id(p) in adapter_ids, no_decay), []).append(p)
        return [
            {
                "params": ps,
                "lr": self.cfg.adapter_lr if is_adapter else self.cfg.lr,
                "weight_decay": 0.0 if no_decay else self.cfg.weight_decay,
            }
            for (is_adapter, no_decay), ps in sorted(groups.items())
        ]

    def _autocast(self):
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16
        )

    def _forward(self, batch: dict, train: bool = False) -> ModelOutput:
        with self._autocast():
            return (self.net if train else self.model)(batch)

    # ----------------------------------------------------------------- seeds
    def _seed_epoch(self, loader: Iterable, epoch: int) -> None:
        """Make epoch ``epoch`` independent of history: reseed RNGs and the loader's
        order."""
        seed = self.cfg.seed * 100_003 + epoch
        seed_everything(seed)
        gen = getattr(loader, "generator", None)
        if gen is not None:
            gen.manual_seed(seed)
        for sampler in (
            getattr(loader, "sampler", None),
            getattr(loader, "batch_sampler", None),
        ):
            # samplers that order batches by (seed, epoch)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    # ----------------------------------------------------------------- checkpoints
    def _checkpoint_path(self) -> Path | None:
        return (
            self.checkpoint_dir / CHECKPOINT_NAME
            if self.checkpoint_dir is not None
            else None
        )

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        path = self._checkpoint_path()
        if path is not None and distributed.world()[0] == 0:  # one writer (torchrun)
            save_checkpoint(path, state, self.model, self.optimizer)

    def _load_checkpoint(self) -> dict[str, Any] | None:
        path = self._checkpoint_path()
        if path is None or not path.is_file():
            return None
        return load_checkpoint(path, self.model, self.optimizer)

    # ----------------------------------------------------------------- training
    def _train_step(self, batch: dict) -> ModelOutput:
        batch = move_to(batch, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        out = self._forward(batch, train=True)
        if not torch.isfinite(out.loss):
            raise FloatingPointError(f"non-finite training loss {out.loss.item()}")
        out.loss.backward()
        if self.adversary is not None:
            self.adversary.attack(
                self.model, batch, lambda: self._forward(batch, train=True).loss
            )
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return out

    def fit(
        self, train_loader: Iterable, dev_loader: Iterable | None = None
    ) -> FitResult:
        """Train for at most ``num_epochs`` with early stopping on dev; load the best
        weights.

        Resumes from ``checkpoint_dir`` when a checkpoint is there. Without a dev loader
        every epoch counts as an improvement (the last weights are kept)."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        train_loader = distributed.shard_loader(train_loader)  # itself outside torchrun
        if hasattr(train_loader, "__len__"):
            self.total_steps = self.cfg.num_epochs * len(train_loader)
        ckpt = self._load_checkpoint()
        if ckpt is not None:
            state = {
                k: ckpt[k]
                for k in (
                    "epoch",
                    "step",
                    "global_step",
                    "history",
                    "best_score",
                    "best_epoch",
                    "best_state",
                    "bad_epochs",
                    "seconds",
                    "loss_sum",
                )
            }
            resumed_from = state["global_step"]
        else:
            state = {
                "epoch": 0,
                "step": 0,
                "global_step": 0,
                "history": [],
                "best_score": -np.inf,
                "best_epoch": -1,
                "best_state": None,
                "bad_epochs": 0,
                "seconds": 0.0,
                "loss_sum": {},
            }
            resumed_from = None
        if state["bad_epochs"] >= self.cfg.patience:
            # the checkpointed run had already stopped early
            state["epoch"] = self.cfg.num_epochs
        while state["epoch"] < self.cfg.num_epochs:
            epoch, skip = state["epoch"], state["step"]
            epoch_start = time.perf_counter()
            self._seed_epoch(train_loader, epoch)
            iterator = iter(train_loader)
            # a mid-epoch checkpoint: replay the same order up to it
            for _ in range(skip):
                next(iterator)
            if skip:
                restore_rng(ckpt["rng"])
            self.model.train()
            total = len(train_loader) if hasattr(train_loader, "__len__") else None
            bar = tqdm(
                iterator,
                total=total,
                initial=skip,
                desc=f"epoch {epoch + 1}/{self.cfg.num_epochs}",
                disable=not self.progress,
                leave=False,
            )
            for batch in bar:
                self._set_lr(state["global_step"])
                out = self._train_step(batch)
                state["step"] += 1
                state["global_step"] += 1
                sums = state["loss_sum"]
                for name, value in {"loss": out.loss.item(), **out.parts}.items():
                    sums[name] = sums.get(name, 0.0) + float(value)
                bar.set_postfix(loss=f"{out.loss.item():.3f}")
                if self.on_step is not None:
                    self.on_step(
                        self, {k: state[k] for k in ("epoch", "step", "global_step")}
                    )
                if self.checkpoint_every and state["step"] % self.checkpoint_every == 0:
                    self._save_checkpoint(
                        {
                            **state,
                            "seconds": state["seconds"] + time.perf_counter() - start,
                        }
                    )
            self._end_epoch(state, dev_loader, time.perf_counter() - epoch_start)
            start_seconds = state["seconds"] + time.perf_counter() - start
            self._save_checkpoint({**state, "seconds": start_seconds})
            if state["bad_epochs"] >= self.cfg.patience:
                break
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        seconds = state["seconds"] + time.perf_counter() - start
        return FitResult(
            state["history"],
            state["best_epoch"],
            float(state["best_score"]),
            seconds,
            resumed_from,
        )

    def _end_epoch(
        self, state: dict[str, Any], dev_loader: Iterable | None, seconds: float
    ) -> None:
        """Log the epoch, score it on dev, keep the best weights, count epochs without
        progress."""
        steps = max(state["step"], 1)
        row: dict[str, Any] = {
            "epoch": state["epoch"] + 1,
            "seconds": seconds,
            **{f"train_{k}": v / steps for k, v in state["loss_sum"].items()},
        }
        score = float(state["epoch"])  # without dev data, later is better
        if dev_loader is not None:
            dev = self.evaluate(dev_loader)
            score = dev.M
            row.update(
                {
                    "dev_loss": dev.loss,
                    "dev_M": dev.M,
                    "dev_G": dev.G,
                    **{f"dev_acc_{k}": v for k, v in dev.accuracy.items()},
                }
            )
        state["history"].append(row)
        if score > state["best_score"]:
            state.update(
                best_score=score,
                best_epoch=state["epoch"] + 1,
                bad_epochs=0,
                best_state=copy.deepcopy(
                    {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
                ),
            )
        else:
            state["bad_epochs"] += 1
        state.update(epoch=state["epoch"] + 1, step=0, loss_sum={})

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, loader: Iterable) -> Evaluation:
        """Predict every row of ``loader``: ids, languages, gold labels and
        predictions."""
        from tqdm.auto import tqdm

        self.model.eval()
        ids: list[str] = []
        langs: list[str] = []
        ys, y_hats = [], []
        loss_sum, rows = 0.0, 0
        languages: dict[str, None] = {}
        for batch in tqdm(loader, desc="eval", disable=not self.progress, leave=False):
            batch = move_to(batch, self.device)
            out = self._forward(batch)
            names = list(batch["langs"])
            languages.update(dict.fromkeys(names))
            ids += row_ids(batch, out)
            langs += [names[g] for g in out.group.tolist()]
            ys.append(out.y.cpu())
            y_hats.append(out.logits.float().argmax(-1).cpu())
            loss_sum += float(out.loss) * len(out.y)
            rows += len(out.y)
        if rows == 0:
            raise ValueError("evaluate: the loader yielded no rows")
        return Evaluation(
            ids,
            langs,
            torch.cat(ys).numpy(),
            torch.cat(y_hats).numpy(),
            tuple(languages),
            loss_sum / rows,
        )
