"""What models, the trainer and systems return: forward passes, evaluations, runs.

Every model of the book (MLCL and the baselines) takes a batch (a dict of tensors and
metadata) and returns a :class:`ModelOutput`. The trainer only reads ``loss`` to
optimise and ``logits``/``y``/``group`` to evaluate, so it knows nothing of text or
speech."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mlcl_core.metrics import gini, per_language_accuracy


@dataclass
class ModelOutput:
    """One forward pass.

    Attributes:
        loss: scalar training loss.
        logits: (R, C) class scores, one row per evaluated (sentence, language) pair.
        y: (R,) gold label index of each row.
        group: (R,) language index of each row (position in the batch's ``langs``).
        parts: named scalar loss components for logging (e.g. ``ce``, ``mcl``, ``lcl``).
        extras: anything else worth inspecting (embeddings, attention weights).
    """

    loss: torch.Tensor
    logits: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor
    parts: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def move_to(batch: Any, device: torch.device | str) -> Any:
    """Move every tensor inside a (nested) batch to ``device``; other values pass
    through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if (
        isinstance(batch, (list, tuple))
        and batch
        and isinstance(batch[0], torch.Tensor)
    ):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def row_ids(batch: dict, out: ModelOutput) -> list[str]:
    """Sentence id of every row of ``out``.

    A model may say it directly (``extras["row_ids"]``); otherwise rows are taken to be
    language-major (row r = language r // B, sentence r % B), which is checked against
    ``out.group`` so a model with another layout fails loudly instead of mislabelling.
    """
    if "row_ids" in out.extras:
        return [str(i) for i in out.extras["row_ids"]]
    ids = [str(i) for i in batch.get("ids", [])]
    rows, b = len(out.y), len(ids)
    if b == 0 or rows % b:
        raise ValueError(
            f"cannot map {rows} rows to the batch's {b} ids; return extras['row_ids'] "
            "from the model"
        )
    expected = torch.arange(rows, device=out.group.device) // b
    if not torch.equal(out.group.long(), expected):
        raise ValueError(
            "rows are not language-major; return extras['row_ids'] from the model"
        )
    return ids * (rows // b)


@dataclass
class Evaluation:
    """Predictions on one split, one row per (sentence, language), and their summary."""

    ids: list[str]
    lang: list[str]
    y: np.ndarray
    y_hat: np.ndarray
    languages: tuple[str, ...]
    loss: float = float("nan")

    @property
    def accuracy(self) -> dict[str, float]:
        """Per-language accuracy, in the order of ``languages``."""
        acc = per_language_accuracy(self.y, self.y_hat, self.lang)
        return {lang: float(acc[lang]) for lang in self.languages}

    @property
    def M(self) -> float:  # noqa: N802 - the paper's name
        return float(np.mean(list(self.accuracy.values())))

    @property
    def G(self) -> float:  # noqa: N802 - the paper's name
        return float(gini(list(self.accuracy.values())))

    def to_records(self) -> list[dict[str, Any]]:
        """The predictions as a list of ``{id, lang, y, y_hat}`` dicts (for the results
        store)."""
        return [
            {"id": i, "lang": g, "y": int(a), "y_hat": int(b)}
            for i, g, a, b in zip(self.ids, self.lang, self.y, self.y_hat)
        ]

    @staticmethod
    def concat(parts: Sequence[Evaluation]) -> Evaluation:
        """One evaluation from several (e.g. the per-language models of ``Unique``)."""
        langs = tuple(dict.fromkeys(g for p in parts for g in p.languages))
        n = np.array([len(p.y) for p in parts], dtype=float)
        loss = float(np.sum([p.loss * k for p, k in zip(parts, n)]) / max(n.sum(), 1))
        return Evaluation(
            [i for p in parts for i in p.ids],
            [g for p in parts for g in p.lang],
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.y_hat for p in parts]),
            langs,
            loss,
        )


@dataclass
class FitResult:
    """What ``Trainer.fit`` returns: the per-epoch curve and where the best weights came
    from."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float
    seconds: float
    resumed_from: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class SystemRun:
    """What every system of :mod:`mlcl_core.systems` returns from one training run.

    ``test`` and ``dev`` predictions of the best epoch, the training curves (``fits``:
    one per model trained, e.g. one per language for BERT-Unique, none for n-grams) and
    ``info``: timings (keys ending in ``_s``) and whatever the system wants kept.
    """

    test: Evaluation
    dev: Evaluation
    fits: dict[str, FitResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
