"""Dropout whose random mask costs a fraction of PyTorch's on the CPU (issue 8).

On the CPU, ``F.dropout`` draws one ``bernoulli_`` sample per element from the
Mersenne Twister, about 8 ns each on the 2-core development machine: with the tiny
profile's dropout of 0.1 that was 11 of a 118 ms MLCL step. :func:`keep_mask` draws
one 64-bit integer per four elements instead (``random_`` over the whole int64 range
gives 64 uniform bits) and reads it as four 16-bit uniform numbers (an ``int16``
view, no shifts or masks), each compared with a threshold. An element is dropped with
probability round(p * 2**16) / 2**16, within 7.7e-6 of p, and the draws come from
PyTorch's default generator, so ``torch.manual_seed`` fixes them. :func:`dropout`
multiplies by a float scale (0 or 1 / (1 - p)) made from the mask in one product:
``torch.where`` with two scalars took twice as long here. CUDA tensors keep
PyTorch's fused dropout kernel. :func:`swap_dropout` puts :class:`Dropout` into a
model built elsewhere (the text encoders).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BITS = 16  # four uniform numbers from the 64 random bits of one int64


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device) -> torch.Tensor:
    """A bool tensor of ``shape``: True with probability 1 - p, independently."""
    n = 1
    for size in shape:
        n *= size
    dropped = round(p * (1 << BITS))  # of the 2**16 values of one field
    if dropped >= 1 << BITS:  # p within 2**-17 of 1: no field is kept
        return torch.zeros(shape, dtype=torch.bool, device=device)
    # (random_ from the int64 minimum to its maximum draws all 64 bits uniformly)
    words = torch.empty(-(-n // 4), dtype=torch.int64, device=device)
    words.random_(-(1 << 63), None)
    fields = words.view(torch.int16)[:n]  # uniform over [-2**15, 2**15)
    return (fields >= dropped - (1 << (BITS - 1))).view(shape)


def keep_scale(
    shape: torch.Size | tuple[int, ...], p: float, device, dtype=torch.float32
) -> torch.Tensor:
    """``keep_mask(shape, p, device) / (1 - p)`` as ``dtype``: dropout's factor."""
    return keep_mask(shape, p, device).to(dtype).mul_(1 / (1 - p))


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)`` with the mask of :func:`keep_mask` on the CPU."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, True)
    return x * keep_scale(x.shape, p, x.device, x.dtype)


class Dropout(nn.Dropout):
    """``nn.Dropout`` computed by :func:`dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def swap_dropout(model: nn.Module, kind: type[nn.Dropout] = Dropout) -> nn.Module:
    """``model`` with every ``nn.Dropout`` module replaced by a ``kind`` of the same p
    (in place; ``kind=nn.Dropout`` undoes it). Dropout has no weights, so checkpoints
    and state dicts are unchanged."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout) and type(child) is not kind:
                setattr(parent, name, kind(child.p, child.inplace))
    return model
