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
    if not len(seqs):
        raise ValueError("pad: no sequences given")
    lengths = [len(s) for s in seqs]
    length = max(lengths + [min_len])
    mask = torch.arange(length) < torch.tensor(lengths)[:, None]  # (N, T)
    if all(isinstance(s, torch.Tensor) for s in seqs):
        # one C++ call: a row copy per sequence in Python took about 1 ms of a
        # tiny-profile MLCL batch (issue 8)
        out = torch.nn.utils.rnn.pad_sequence(
            list(seqs), batch_first=True, padding_value=value
        )
        if out.shape[1] < length:  # min_len beyond the longest sequence
            wide = out.new_full((len(seqs), length, *out.shape[2:]), value)
            wide[:, : out.shape[1]] = out
            out = wide
        return (out if dtype is None else out.to(dtype)), mask
    arrays = [np.asarray(s) for s in seqs]  # lists of ints: int64
    first = arrays[0]
    out = np.full((len(arrays), length, *first.shape[1:]), value, dtype=first.dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    out = torch.from_numpy(out)
    return (out if dtype is None else out.to(dtype)), mask
