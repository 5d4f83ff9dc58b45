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
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

from mlcl_core.config import TAU_GRID, ExperimentConfig
from mlcl_core.corpora import Corpus
from mlcl_core.display import show_progress
from mlcl_core.results import run_id
from mlcl_core.storage import atomic_path
from mlcl_core.systems import prepare_inputs, run_system

MAX_CONTRASTIVE_WEIGHT = 0.9  # alpha + beta never exceeds this in the search


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


def tpe_search(
    evaluate: Callable[[float, float, float], dict[str, float]],
    max_evals: int,
    trials_path: str | Path,
    seed: int = 0,
    progress: bool = False,
) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE over (alpha, beta, tau); ``evaluate(alpha, beta, tau)`` returns dev ``{"M",
    "G"}``.

    Trials are pickled to ``trials_path`` after every evaluation and loaded from it when
    it exists, so calling again with a larger ``max_evals`` continues the search.
    Returns the best ``{"alpha", "beta", "tau"}`` and the trials table
    (:func:`trials_frame`)."""
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

    # one at a time so every trial is saved
    for _ in range(len(trials.trials), max_evals):
        fmin(
            objective,
            search_space(),
            algo=tpe.suggest,
            max_evals=len(trials.trials) + 1,
            trials=trials,
            rstate=np.random.default_rng(seed + len(trials.trials)),
            show_progressbar=show_progress(progress),
        )
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


def search_mlcl(
    cfg: ExperimentConfig,
    max_evals: int,
    results_dir: str | Path,
    seed: int = 0,
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    experiment: str = "search",
    progress: bool = False,
) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE search of MLCL's alpha, beta, tau on the dev split; each trial is a stored
    run.

    Returns the best ``{"alpha", "beta", "tau"}`` and the trials table; trials are kept
    in :func:`search_trials_path`."""
    corpus, speech_table = prepare_inputs(cfg, ["mlcl"], corpus, speech_table, progress)

    def evaluate(alpha: float, beta: float, tau: float) -> dict[str, float]:
        trial_cfg = replace(
            cfg, loss=replace(cfg.loss, alpha=alpha, beta=beta, tau=tau)
        )
        rec = run_system(
            trial_cfg,
            "mlcl",
            seed,
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
        search_trials_path(cfg, results_dir, experiment, seed),
        seed,
        progress,
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
