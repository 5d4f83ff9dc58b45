"""Right-padding of variable-length sequences with a mask: the one helper every batch
uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pad(
    seqs: Sequence[torch.Tensor | np.ndarray | Sequence[int]],
    value: float = 0,
    min_len: int = 0,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of shape (T_i, ...) into (N, T, ...) right-padded with ``value``.

    Returns the padded tensor and a (N, T) bool mask of real positions; T is the longest
    sequence (at least ``min_len``). Lists of ints become long tensors, numpy arrays
    keep their dtype; ``dtype`` overrides the dtype of the first sequence."""
    tensors = [
        s if isinstance(s, torch.Tensor) else torch.as_tensor(np.asarray(s))
        for s in seqs
    ]
    if not tensors:
        raise ValueError("pad: no sequences given")
    first = tensors[0]
    length = max([t.shape[0] for t in tensors] + [min_len])
    out = torch.full(
        (len(tensors), length, *first.shape[1:]), value, dtype=dtype or first.dtype
    )
    mask = torch.zeros(len(tensors), length, dtype=torch.bool)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return out, mask
