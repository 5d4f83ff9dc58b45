"""Dropout whose random mask costs a third of PyTorch's on the CPU (issue 8).

On the CPU, ``F.dropout`` draws one ``bernoulli_`` sample per element from the
Mersenne Twister, about 8 ns each on the 2-core development machine: with the tiny
profile's dropout of 0.1 that was 11 of a 118 ms MLCL step. :func:`keep_mask` draws
one 64-bit integer per three elements instead (``random_`` gives 63 uniform bits) and
cuts it into three 21-bit uniform numbers, each compared with p * 2**21. An element
is dropped with probability round(p * 2**21) / 2**21, within 2.4e-7 of p (p itself
is stored as a float32 in ``nn.Dropout`` users' configs no more exactly), and the
draws come from PyTorch's default generator, so ``torch.manual_seed`` fixes them.
CUDA tensors keep PyTorch's fused dropout kernel. :func:`swap_dropout` puts
:class:`Dropout` into a model built elsewhere (the text encoders).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BITS = 21  # three uniform numbers from the 63 random bits of one int64


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device) -> torch.Tensor:
    """A bool tensor of ``shape``: True with probability 1 - p, independently."""
    n = 1
    for size in shape:
        n *= size
    words = torch.empty(3, -(-n // 3), dtype=torch.int64, device=device)
    words[0].random_()  # uniform over [0, 2**63): 63 random bits
    torch.bitwise_right_shift(words[0], BITS, out=words[1])
    torch.bitwise_right_shift(words[0], 2 * BITS, out=words[2])
    words.bitwise_and_((1 << BITS) - 1)
    return (words.view(-1)[:n] >= round(p * (1 << BITS))).view(shape)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)`` with the mask of :func:`keep_mask` on the CPU."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, True)
    scale = torch.where(keep_mask(x.shape, p, x.device), 1 / (1 - p), 0.0)
    return x * scale.to(x.dtype)


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
