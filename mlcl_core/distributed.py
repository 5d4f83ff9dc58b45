"""Data-parallel training: process group from ``torchrun``, data shards, gathering.

Under ``torchrun --nproc_per_node N`` every process runs the same script; the
:class:`~mlcl_core.training.Trainer` then

* joins the process group that torchrun describes in the environment (``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): NCCL on GPUs, gloo
  on CPUs (:func:`init_from_env`);
* trains on its shard of every global batch (:class:`ShardedBatchSampler`): each
  batch of the loader is cut into ``world`` equal contiguous parts, process r reads and
  collates only part r, so a global batch of B sentences costs each process B / world;
* wraps the model in ``DistributedDataParallel``, which averages the gradients.

The contrastive losses need every process's embeddings as negatives:
:func:`gather_with_grad` concatenates a tensor over the processes and, in the backward
pass, hands each process the summed gradient of its own rows. With equal shards, the
mean over processes of the per-process losses is then the single-process loss of the
global batch, and DDP's averaged gradient its gradient (``tests/test_distributed.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: torch.device) -> torch.device:
    """Join the process group torchrun describes, if any; the device of this process.

    Without ``WORLD_SIZE`` > 1 in the environment (a plain ``python`` run) nothing
    happens. On CUDA each process takes GPU ``LOCAL_RANK`` of its node.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` under torchrun; ``model`` itself
    otherwise."""
    if world()[1] == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def from_rank0(obj: Any) -> Any:
    """Process 0's ``obj`` in every process (``obj`` itself without a process group).

    For what each process would otherwise build differently: the tiny profile's
    WordPiece trainer breaks ties in a per-process hash order (on SIB-200 about 50 of
    8,000 tokens differ between two processes), so every process takes rank 0's
    vocabulary.
    """
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _GatherWithGrad(torch.autograd.Function):
    """``all_gather`` on dim 0 whose backward returns each process its rows' gradient.

    Every process's loss reads every process's rows, so the gradient of a row is the sum
    over processes of their losses' gradients: all-reduce (sum) the incoming gradient
    and keep this process's slice.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        parts = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(parts, x.contiguous())
        ctx.rows, ctx.rank = x.shape[0], rank
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` (n, ...) from every process, in rank order: (world * n, ...).

    Every process must pass the same n (equal shards). Outside data-parallel training,
    ``x``.
    """
    if world()[1] == 1:
        return x
    return _GatherWithGrad.apply(x)


class ShardedBatchSampler:
    """This process's share of every batch of a batch sampler.

    Batch ``[i_0 .. i_{B-1}]`` gives process r the rows ``[r n, (r + 1) n)`` with ``n =
    B // world``: in rank order the shards are the global batch again (the last ``B mod
    world`` rows are left out so that shards are equal, as all-gather needs). A batch
    with fewer rows than processes is skipped by all processes alike. ``set_epoch`` is
    passed on, so the trainer's per-epoch reseeding still orders the global batches.
    """

    def __init__(self, base: Any, rank: int, size: int) -> None:
        if not 0 <= rank < size:
            raise ValueError(f"rank {rank} outside a world of {size}")
        self.base, self.rank, self.size = base, rank, size

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.base:
            n = len(batch) // self.size
            if n:
                yield list(batch[self.rank * n : (self.rank + 1) * n])

    def __len__(self) -> int:
        return len(self.base)


def shard_loader(loader: Any) -> Any:
    """The same DataLoader, reading only this process's share of each batch."""
    from torch.utils.data import DataLoader

    rank, size = world()
    if size == 1:
        return loader
    if not isinstance(loader, DataLoader) or loader.batch_sampler is None:
        raise ValueError(
            "data-parallel training needs a DataLoader with a batch_sampler "
            "(mlcl_core.batching.make_loader builds one)"
        )
    sampler = ShardedBatchSampler(loader.batch_sampler, rank, size)
    return DataLoader(
        loader.dataset,
        batch_sampler=sampler,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        pin_memory=loader.pin_memory,
        generator=loader.generator,
    )
