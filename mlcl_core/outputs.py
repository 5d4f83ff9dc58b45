"""The contract between models and the trainer: what a forward pass returns.

Every model of the book (MLCL and the baselines) takes a batch (a dict of tensors and
metadata) and returns a :class:`ModelOutput`. The trainer only reads ``loss`` to optimise
and ``logits``/``y``/``group`` to evaluate, so it knows nothing of text or speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


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
    """Move every tensor inside a (nested) batch to ``device``; other values pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return type(batch)(move_to(v, device) for v in batch)
    return batch
