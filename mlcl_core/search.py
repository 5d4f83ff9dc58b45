"""Hyperopt's TPE search of MLCL's alpha, beta and tau on the dev split.

``alpha + beta < 1`` is enforced by construction: alpha ~ U(0, 0.9) and
beta = share x (0.9 - alpha) with share ~ U(0, 1), so the CE weight 1 - alpha - beta is
always at least 0.1 and every point TPE proposes is valid (no rejected trials that would
mislead its density model). tau ~ choice over ``config.TAU_GRID`` (the paper's grid).
The objective is ``(1 - M) + G`` on dev: both terms are in accuracy units, 0 only for a
perfect and perfectly balanced model; it rewards accuracy and balance equally, which is
the paper's claim (lowest G at the highest M). Trials are pickled after every evaluation
and reloaded, so a search resumes; every trial is also a stored run, so re-evaluating a
point costs nothing.

The search must not select the table's numbers: it runs in its own experiment, on a
``search_seed`` that is none of the table's seeds, and a trial is scored on dev only
(the test split is never evaluated, and its record holds no test prediction or score).
The table then trains MLCL afresh with the chosen alpha, beta and tau on its own seeds.
"""

from __future__ import annotations

import copy
import pickle
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

from mlcl_core.config import TAU_GRID, ExperimentConfig
from mlcl_core.corpora import Corpus
from mlcl_core.display import show_progress
from mlcl_core.provenance import provenance_of
from mlcl_core.results import (
    environment,
    jsonable,
    reusable,
    run_id,
    run_path,
    write_json_atomic,
)
from mlcl_core.runtime import run_workers, side_by_side
from mlcl_core.storage import atomic_path
from mlcl_core.systems import prepare_inputs, system_config, train_mlcl

MAX_CONTRASTIVE_WEIGHT = 0.9  # alpha + beta never exceeds this in the search
#: A trial's run id carries this, so it never equals a table run's id.
TRIAL = {"role": "search-trial"}


def search_space() -> dict[str, Any]:
    """hyperopt space: alpha, the share of the remaining contrastive mass given to beta,
    tau."""
    return {
        "alpha": hp.uniform("alpha", 0.0, MAX_CONTRASTIVE_WEIGHT),
        "beta_share": hp.uniform("beta_share", 0.0, 1.0),
        "tau": hp.choice("tau", list(TAU_GRID)),
    }


def weights_from_sample(sample: dict[str, float]) -> tuple[float, float, float]:
    """(alpha, beta, tau) of a point of :func:`search_space`; alpha + beta <= 0.9 < 1
    always."""
    alpha = float(sample["alpha"])
    beta = float(sample["beta_share"]) * (MAX_CONTRASTIVE_WEIGHT - alpha)
    return alpha, beta, float(sample["tau"])


def search_objective(M: float, G: float) -> float:  # noqa: N803 - the paper's names
    """What the search minimises on dev: ``(1 - M) + G`` (see the module docstring)."""
    return (1.0 - M) + G


def _fmin_step(objective: Callable, trials: Trials, seed: int, progress: bool) -> None:
    """One more TPE evaluation on ``trials``, its random state fixed by ``seed`` and the
    number of trials so far (so a resumed search draws what a whole one would)."""
    fmin(
        objective,
        search_space(),
        algo=tpe.suggest,
        max_evals=len(trials.trials) + 1,
        trials=trials,
        rstate=np.random.default_rng(seed + len(trials.trials)),
        show_progressbar=show_progress(progress),
    )


def startup_points(
    trials: Trials, max_evals: int, seed: int = 0
) -> list[tuple[float, float, float]]:
    """(alpha, beta, tau) of the coming trials that TPE draws at random before it models
    anything (its first ``n_startup_jobs``, 20): their points depend on the seed and the
    trial count only, not on any result, so they are known before the search runs (the
    same loop on a copy of ``trials`` with a constant objective) and their runs can
    train side by side."""
    ahead = copy.deepcopy(trials)
    points: list[tuple[float, float, float]] = []

    def constant(sample: dict[str, float]) -> dict[str, Any]:
        points.append(weights_from_sample(sample))
        return {"loss": 0.0, "status": STATUS_OK}

    for _ in range(len(ahead.trials), min(max_evals, tpe._default_n_startup_jobs)):
        _fmin_step(constant, ahead, seed, False)
    return points


def tpe_search(
    evaluate: Callable[[float, float, float], dict[str, float]],
    max_evals: int,
    trials_path: str | Path,
    seed: int = 0,
    progress: bool = False,
    prefetch: Callable[[list[tuple[float, float, float]]], None] | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE over (alpha, beta, tau); ``evaluate(alpha, beta, tau)`` returns dev ``{"M",
    "G"}``.

    Trials are pickled to ``trials_path`` after every evaluation and loaded from it when
    it exists, so calling again with a larger ``max_evals`` continues the search.
    Returns the best ``{"alpha", "beta", "tau"}`` and the trials table
    (:func:`trials_frame`). ``prefetch``, if given, is called first with the
    :func:`startup_points` still to evaluate (to train them side by side; ``evaluate``
    then finds them stored)."""
    if max_evals < 1:
        raise ValueError(f"max_evals must be >= 1, got {max_evals}")
    trials_path = Path(trials_path)
    trials_path.parent.mkdir(parents=True, exist_ok=True)
    trials = (
        pickle.loads(trials_path.read_bytes()) if trials_path.is_file() else Trials()
    )

    def objective(sample: dict[str, float]) -> dict[str, Any]:
        alpha, beta, tau = weights_from_sample(sample)
        dev = evaluate(alpha, beta, tau)
        return {
            "loss": search_objective(dev["M"], dev["G"]),
            "status": STATUS_OK,
            "alpha": alpha,
            "beta": beta,
            "tau": tau,
            "M": dev["M"],
            "G": dev["G"],
        }

    if prefetch is not None:
        prefetch(startup_points(trials, max_evals, seed))
    # one at a time so every trial is saved
    for _ in range(len(trials.trials), max_evals):
        _fmin_step(objective, trials, seed, progress)
        with atomic_path(trials_path) as tmp:
            tmp.write_bytes(pickle.dumps(trials))
    frame = trials_frame(trials)
    best = frame.loc[frame["loss"].idxmin()]
    return {
        "alpha": float(best["alpha"]),
        "beta": float(best["beta"]),
        "tau": float(best["tau"]),
    }, frame


def trials_frame(trials: Any) -> pd.DataFrame:
    """hyperopt trials as a table, one row per trial (its number as the row label):
    alpha, beta, tau, dev M, dev G, loss."""
    rows = [
        {
            "trial": i,
            **{k: t["result"][k] for k in ("alpha", "beta", "tau", "M", "G", "loss")},
        }
        for i, t in enumerate(trials.trials)
        if t["result"].get("status") == "ok"
    ]
    return pd.DataFrame(
        rows, columns=["trial", "alpha", "beta", "tau", "M", "G", "loss"]
    ).set_index("trial")


def load_trials(trials_path: str | Path) -> pd.DataFrame:
    """The trials table of a saved search (empty when none was saved)."""
    path = Path(trials_path)
    if not path.is_file():
        return pd.DataFrame(
            columns=["trial", "alpha", "beta", "tau", "M", "G", "loss"]
        ).set_index("trial")
    return trials_frame(pickle.loads(path.read_bytes()))


def check_search_seed(search_seed: int, table_seeds: Sequence[int]) -> None:
    """The search seed must be none of the table's seeds (``ValueError`` otherwise):
    a table run on the search's seed would share its data order and initialisation
    with the trial the search picked for scoring best on dev."""
    if search_seed in set(table_seeds):
        raise ValueError(
            f"search_seed {search_seed} is one of the table's seeds "
            f"{list(table_seeds)}; pick a seed outside them, so the table's MLCL runs "
            "are not the search's selected trials"
        )


def _trial_path(
    cfg: ExperimentConfig, seed: int, results_dir: str | Path, experiment: str
) -> tuple[ExperimentConfig, str, Path]:
    """A trial's stored config, run id and record path."""
    cfg = system_config("mlcl", cfg, seed)
    rid = run_id("mlcl", cfg, seed, TRIAL)
    return cfg, rid, run_path(results_dir, experiment, rid)


def _stored_trial(
    cfg: ExperimentConfig,
    seed: int,
    results_dir: str | Path,
    experiment: str,
    corpus: Corpus,
) -> dict[str, Any] | None:
    """The current stored record of this trial, or None (then it must be trained)."""
    _, rid, path = _trial_path(cfg, seed, results_dir, experiment)
    return reusable(path, provenance_of(corpus), f"search trial {experiment}/{rid}")


def run_trial(
    cfg: ExperimentConfig,
    seed: int,
    results_dir: str | Path,
    experiment: str,
    corpus: Corpus,
    speech_table: pd.DataFrame | None,
    progress: bool = False,
) -> dict[str, Any]:
    """One search trial: MLCL trained with ``cfg``'s alpha, beta, tau and ``seed``,
    scored on dev only, stored in ``experiment`` (reused while current).

    The record has the dev scores, curve and timings, and no test prediction or score:
    the test split is not evaluated at all."""
    stored = _stored_trial(cfg, seed, results_dir, experiment, corpus)
    if stored is not None:
        return stored
    cfg, rid, path = _trial_path(cfg, seed, results_dir, experiment)
    prov = provenance_of(corpus)
    ckpt = Path(results_dir) / experiment / ".checkpoints" / rid
    start = time.perf_counter()
    trainer, loaders, fit, info = train_mlcl(cfg, corpus, speech_table, ckpt, progress)
    dev = trainer.evaluate(loaders["dev"])
    record = {
        "run_id": rid,
        "system": "mlcl",
        "seed": seed,
        "extra": TRIAL,
        "config": cfg.to_dict(),
        "provenance": prov,
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dev": {"accuracy": dev.accuracy, "G": dev.G, "M": dev.M},
        "curve": {"all": fit.history},
        "best_epoch": {"all": fit.best_epoch},
        "timings": {"total": time.perf_counter() - start}
        | {k: v for k, v in info.items() if k.endswith("_s")},
        "info": info,
    }
    write_json_atomic(path, jsonable(record))
    shutil.rmtree(ckpt, ignore_errors=True)  # the record supersedes the checkpoint
    return record


def _store_trial(
    cfg: ExperimentConfig,
    seed: int,
    results_dir: str | Path,
    experiment: str,
    corpus: Corpus,
    speech_table: pd.DataFrame | None,
) -> None:
    """One prefetched search trial in a training process (:func:`search_mlcl`)."""
    run_trial(cfg, seed, results_dir, experiment, corpus, speech_table, False)


def search_mlcl(
    cfg: ExperimentConfig,
    max_evals: int,
    results_dir: str | Path,
    search_seed: int,
    table_seeds: Sequence[int] = (),
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    experiment: str = "search",
    progress: bool = False,
) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE search of MLCL's alpha, beta, tau on the dev split (:func:`run_trial`).

    ``experiment`` must be the search's own (not the table's) and ``search_seed`` none
    of ``table_seeds`` (checked before any work). Returns the best ``{"alpha", "beta",
    "tau"}`` and the trials table; trials are kept in :func:`search_trials_path`."""
    check_search_seed(search_seed, table_seeds)
    corpus, speech_table = prepare_inputs(cfg, ["mlcl"], corpus, speech_table, progress)

    def with_weights(alpha: float, beta: float, tau: float) -> ExperimentConfig:
        return replace(cfg, loss=replace(cfg.loss, alpha=alpha, beta=beta, tau=tau))

    def prefetch(points: list[tuple[float, float, float]]) -> None:
        calls = [
            (
                with_weights(*p),
                search_seed,
                results_dir,
                experiment,
                corpus,
                speech_table,
            )
            for p in points
        ]
        calls = [c for c in calls if _stored_trial(c[0], *c[1:4], corpus) is None]
        if run_workers(cfg.train.device, len(calls)) > 1:
            side_by_side(_store_trial, calls, cfg.train.device, progress)

    def evaluate(alpha: float, beta: float, tau: float) -> dict[str, float]:
        rec = run_trial(
            with_weights(alpha, beta, tau),
            search_seed,
            results_dir,
            experiment,
            corpus,
            speech_table,
            progress,
        )
        return {"M": rec["dev"]["M"], "G": rec["dev"]["G"]}

    return tpe_search(
        evaluate,
        max_evals,
        search_trials_path(cfg, results_dir, experiment, search_seed),
        search_seed,
        progress,
        prefetch,
    )


def search_trials_path(
    cfg: ExperimentConfig,
    results_dir: str | Path,
    experiment: str = "search",
    seed: int = 0,
) -> Path:
    """Where :func:`search_mlcl` keeps the trials of a search over ``cfg`` (one file per
    config and seed, so searches over different data or encoders never mix)."""
    # the searched values do not count
    base = replace(cfg, loss=replace(cfg.loss, alpha=0.0, beta=0.0, tau=1.0))
    return Path(results_dir) / experiment / f"trials-{run_id('search', base, seed)}.pkl"
