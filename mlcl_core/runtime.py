"""What makes a run repeatable and resumable: seeds, random-number state, devices and
training checkpoints."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlcl_core.storage import atomic_path

__all__ = [
    "seed_everything",
    "resolve_device",
    "autocast",
    "device_name",
    "rng_state",
    "restore_rng",
    "save_checkpoint",
    "load_checkpoint",
    "make_optimizer",
    "run_workers",
    "init_run_worker",
    "side_by_side",
]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU; ``cuda`` without a GPU is an
    error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but no CUDA device is available; use 'auto' or 'cpu'"
        )
    return torch.device(device)


def device_name(device: str) -> str:
    """What ``device`` resolves to, in words for a results page: ``cpu`` or the GPU's
    name."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(resolved)})"
    return resolved.type


def autocast(
    device: torch.device | str, bf16: bool
) -> contextlib.AbstractContextManager:
    """The trainer's mixed precision for work outside it (adapter preparation, feature
    extraction): bf16 autocast on CUDA only, nothing elsewhere."""
    device = torch.device(device)
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rng_state() -> dict[str, Any]:
    """The state of every random-number generator a run draws from."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng(rng: dict[str, Any]) -> None:
    """Put back the generators' state saved by :func:`rng_state`."""
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def save_checkpoint(
    path: Path,
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> None:
    """Write the trainer's ``state``, model, optimiser and RNG state atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
    }
    # a kill leaves the old checkpoint or the new one
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` and ``optimizer``."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


def make_optimizer(
    name: str,
    groups: list[dict[str, Any]],
    lr: float,
    device: torch.device,
    fused: bool = True,
):
    """Adam or AdamW (``name``) over parameter ``groups``, fused (one kernel over all
    parameters) on the CPU and on CUDA.

    On the 2-core CPU the fused AdamW step over the tiny MLCL model takes 2.0 ms against
    7-9 ms for the default single-tensor step (issue 8; the speed benchmark's
    ``project+unfused`` row); the updates agree to float rounding. ``fused=False``:
    the single-tensor step (the speed benchmark's "before" row)."""
    use_fused = True if fused and device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return optimizer(groups, lr=lr, fused=use_fused)


def run_workers(device: str, jobs: int) -> int:
    """How many processes train ``jobs`` independent runs at once.

    On a CPU the tiny profile's small tensors keep torch from using more than about one
    core per run (a run with two threads took as long as two one-thread runs side by
    side on the 2-core machine), so runs go one per core. On a GPU, under torchrun, or
    with ``MLCL_WORKERS=1`` they run one after another. ``MLCL_WORKERS=n`` sets the
    number."""
    import os

    if jobs <= 1 or resolve_device(device).type != "cpu":
        return 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return 1
    fixed = os.environ.get("MLCL_WORKERS")
    if fixed:
        if not fixed.isdigit() or int(fixed) < 1:
            raise ValueError(f"MLCL_WORKERS must be a positive integer, got {fixed!r}")
        return min(int(fixed), jobs)
    return max(1, min(os.cpu_count() or 1, jobs))


def init_run_worker(threads: int) -> None:
    """A training process's start: ``threads`` torch threads (cores / processes), and
    the imports every run needs (about 6 s, most of it transformers' model
    classes), done here so that :func:`start_workers` can pay them ahead.

    The process ignores SIGINT: an interrupt (Ctrl-C, a notebook's interrupt or its
    kernel shutting down, which signal the whole process group) is the parent's to
    handle, and :func:`side_by_side` then stops these processes itself; without this
    every idle process printed a ``KeyboardInterrupt`` traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(max(1, threads))
    import transformers

    transformers.BertModel, transformers.Wav2Vec2Model  # noqa: B018 (lazy imports)


#: The training processes of :func:`side_by_side`, kept for the next call: a fresh
#: process pays about 6 s of imports (torch, transformers' model classes) before its
#: first run, and a chapter calls :func:`side_by_side` several times.
_POOLS: dict[tuple[int, int], Any] = {}


def _pool(workers: int) -> Any:
    """The kept pool of ``workers`` spawned processes, each with its share of the
    cores as threads (made on first use; a broken pool, e.g. a killed process, is
    replaced)."""
    import atexit
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    key = (workers, threads)
    pool = _POOLS.get(key)
    if pool is not None and getattr(pool, "_broken", False):
        pool.shutdown(wait=False, cancel_futures=True)
        pool = None
    if pool is None:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_run_worker,
            initargs=(threads,),
        )
        atexit.unregister(shutdown_workers)  # registered once, however often pools go
        atexit.register(shutdown_workers)
        _POOLS[key] = pool
    return pool


def _no_op() -> None:
    """A task that only makes a training process start (see :func:`start_workers`)."""


def start_workers(device: str) -> None:
    """Start the training processes of :func:`side_by_side` now, without waiting for
    them: their start-up imports overlap with what the caller does next (a chapter
    lists its speech and tokenises before it trains). Nothing happens where runs would
    train one at a time (one core, a GPU, torchrun, ``MLCL_WORKERS=1``)."""
    import multiprocessing
    import os

    if multiprocessing.parent_process() is not None:  # never from a training process
        return
    workers = run_workers(device, os.cpu_count() or 1)
    if workers > 1:
        pool = _pool(workers)
        for _ in range(workers):
            pool.submit(_no_op)


def _stop(workers: int) -> None:
    """Terminate the kept pool of ``workers`` processes now, runs under way included
    (what they stored before stays); the next call starts a fresh pool."""
    for key in [k for k in _POOLS if k[0] == workers]:
        pool = _POOLS.pop(key)
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def shutdown_workers() -> None:
    """Stop the kept training processes (at exit; call it after changing library code
    in a running kernel, so the next runs import the new code)."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def side_by_side(
    fn: Any, calls: list[tuple], device: str, progress: bool = False
) -> None:
    """Call ``fn(*args)`` for every ``args`` of ``calls`` (independent runs that store
    their own results), in :func:`run_workers` processes when that is more than one,
    else here one after another. ``fn`` must be importable (a module-level function).
    A failing call stops the rest with its error. The processes are kept for the next
    call (:func:`shutdown_workers` stops them)."""
    from concurrent.futures import as_completed

    from tqdm.auto import tqdm

    from mlcl_core.display import show_progress

    workers = run_workers(device, len(calls))
    if workers == 1:
        for args in calls:
            fn(*args)
        return
    print(f"training {len(calls)} runs in {workers} processes side by side")
    pool = _pool(workers)
    futures = [pool.submit(fn, *args) for args in calls]
    bar = tqdm(total=len(futures), desc="runs", disable=not show_progress(progress))
    try:
        for future in as_completed(futures):
            future.result()  # re-raises a run's error here
            bar.update()
    except KeyboardInterrupt:  # the processes ignore it: stop the runs under way
        _stop(workers)
        raise
    finally:
        for future in futures:  # after an error: the rest do not start
            future.cancel()
        bar.close()
