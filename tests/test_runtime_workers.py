"""The kept training processes of runtime.side_by_side: reused by the next call,
errors reach the caller, a failed call leaves the processes usable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlcl_core import runtime


def note_pid(out: str, name: str) -> None:
    """A run stand-in: writes its process id to ``out/name``."""
    if name == "fail":
        raise RuntimeError("this run failed")
    Path(out, name).write_text(str(os.getpid()))


def _pids(out: Path) -> set[str]:
    return {p.read_text() for p in out.iterdir()}


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("MLCL_WORKERS", "2")
    yield
    runtime.shutdown_workers()


def test_side_by_side_keeps_its_processes_for_the_next_call(tmp_path, two_workers):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    runtime.side_by_side(note_pid, [(str(first), f"r{i}") for i in range(4)], "cpu")
    runtime.side_by_side(note_pid, [(str(second), f"r{i}") for i in range(4)], "cpu")
    assert len(list(first.iterdir())) == 4 and len(list(second.iterdir())) == 4
    assert str(os.getpid()) not in _pids(first)
    assert _pids(second) <= _pids(first)  # the same processes served both calls
    runtime.shutdown_workers()
    assert not runtime._POOLS


def test_a_failing_run_raises_here_and_the_processes_stay_usable(tmp_path, two_workers):
    with pytest.raises(RuntimeError, match="this run failed"):
        runtime.side_by_side(note_pid, [(str(tmp_path), "fail")] * 2, "cpu")
    runtime.side_by_side(
        note_pid, [(str(tmp_path), "ok1"), (str(tmp_path), "ok2")], "cpu"
    )
    assert {p.name for p in tmp_path.iterdir()} == {"ok1", "ok2"}


def test_start_workers_starts_the_processes_that_side_by_side_then_uses(
    tmp_path, two_workers
):
    runtime.start_workers("cpu")
    (pool,) = runtime._POOLS.values()
    started = set(pool._processes)
    assert len(started) == 2
    runtime.side_by_side(note_pid, [(str(tmp_path), f"r{i}") for i in range(2)], "cpu")
    assert {int(p) for p in _pids(tmp_path)} <= started


def sleep_then_note(out: str, name: str) -> None:
    """A long run stand-in: writes its name after 60 s (if it is not stopped first)."""
    import time

    time.sleep(60)
    Path(out, name).write_text("done")


def test_the_processes_ignore_sigint_and_an_interrupt_here_stops_them(
    tmp_path, two_workers
):
    import signal
    import threading
    import time

    runtime.start_workers("cpu")
    (pool,) = runtime._POOLS.values()
    runtime.side_by_side(note_pid, [(str(tmp_path), f"r{i}") for i in range(2)], "cpu")
    processes = list(pool._processes.values())
    for process in processes:  # what a kernel's shutdown sends the process group
        os.kill(process.pid, signal.SIGINT)
    time.sleep(0.5)
    assert all(p.is_alive() for p in processes)
    runtime.side_by_side(note_pid, [(str(tmp_path), "after")] * 2, "cpu")
    # Ctrl-C in the caller while runs are under way: they are stopped, not waited for
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        runtime.side_by_side(sleep_then_note, [(str(tmp_path), "slow")] * 2, "cpu")
    assert time.monotonic() - began < 30
    assert not runtime._POOLS and not any(p.is_alive() for p in processes)
    assert not (tmp_path / "slow").exists()
