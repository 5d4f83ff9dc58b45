"""The results store: run ids, one JSON record per run, and the headline table.

Each run writes one JSON file ``<results_dir>/<experiment>/<run-id>.json`` holding its
config, package versions, git commit, per-language accuracy, G, M, bootstrap intervals,
dev metrics, predictions (id, lang, y, y_hat), timings and training curve. The run id is
a hash of (system, config, seed), so a rerun finds a completed run and skips it, and a
stopped batch continues where it stopped. Files are written atomically (temp file +
rename): a killed run leaves no half-written result. Chapters build their tables and
figures from these files with :func:`load_results` / :func:`load_predictions`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcl_core.config import ExperimentConfig
from mlcl_core.metrics import bootstrap_ci
from mlcl_core.outputs import SystemRun
from mlcl_core.provenance import stale_reason
from mlcl_core.runtime import device_name
from mlcl_core.storage import atomic_path
from mlcl_core.tables import format_table

_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "pandas",
    "scikit-learn",
    "hyperopt",
)
HEADLINE_FILE = "headline.json"


def run_id(
    system: str, cfg: ExperimentConfig, seed: int, extra: dict[str, Any] | None = None
) -> str:
    """Stable id of a run: a hash of the system, the full config (with ``seed``) and
    ``extra``."""
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    key = json.dumps(
        {"system": system, "config": cfg.to_dict(), "extra": extra or {}},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{system.replace('+', '-')}-s{seed}-{digest}"


def environment() -> dict[str, Any]:
    """Python, platform, package versions and the git commit (``-dirty`` when files
    changed)."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    root = Path(__file__).resolve().parents[1]
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or None
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if commit and dirty:
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit,
    }


def run_path(results_dir: str | Path, experiment: str, rid: str) -> Path:
    return Path(results_dir) / experiment / f"{rid}.json"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(payload, indent=1, default=_json_default), encoding="utf-8"
        )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def make_record(
    system: str,
    cfg: ExperimentConfig,
    seed: int,
    test: Any,
    dev: Any,
    history: dict[str, list],
    seconds: dict[str, float],
    extra: dict[str, Any] | None = None,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """The JSON record of one run from its test/dev
    :class:`~mlcl_core.outputs.Evaluation`."""
    ci = bootstrap_ci(
        test.y, test.y_hat, test.lang, n_boot=n_boot, seed=seed, ids=test.ids
    )
    return {
        "run_id": run_id(system, cfg, seed, extra),
        "system": system,
        "seed": seed,
        "extra": extra or {},
        "config": replace(cfg, train=replace(cfg.train, seed=seed)).to_dict(),
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "languages": list(test.languages),
        "accuracy": test.accuracy,
        "G": test.G,
        "M": test.M,
        "ci": {
            "accuracy": ci["accuracy"],
            "G": ci["G"],
            "M": ci["M"],
            "n_boot": n_boot,
            "level": ci["level"],
        },
        "dev": {"accuracy": dev.accuracy, "G": dev.G, "M": dev.M},
        "predictions": test.to_records(),
        "timings": seconds,
        "curve": history,
    }


def reusable(
    path: Path, provenance: dict[str, str], what: str
) -> dict[str, Any] | None:
    """The stored record at ``path`` when it may stand for a run made now, else None.

    A record written by other library code or from another corpus (see
    :mod:`mlcl_core.provenance`) is not reused: one printed line names the run and why
    it is run again."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    reason = stale_reason(record, provenance["code_version"], provenance["corpus"])
    if reason is None:
        return record
    print(f"rerunning {what}: {reason}")
    return None


def find_reusable(
    results_dir: str | Path,
    experiment: str,
    rid: str,
    provenance: dict[str, str],
    label: str = "",
) -> dict[str, Any] | None:
    """The current stored record of run ``rid``: from ``experiment`` first, else from
    any other experiment of ``results_dir`` (a run id hashes system, config and seed, so
    equal ids are the same run). A record found elsewhere is copied into
    ``experiment`` with one printed line, so a chapter shares another chapter's runs
    (chapter 6's full model is chapter 5's MetaAdapter point) and its own experiment
    still lists every run it shows. ``label`` follows the run id in printed lines."""
    what = f"{experiment}/{rid}{label}"
    own = reusable(run_path(results_dir, experiment, rid), provenance, what)
    if own is not None:
        return own
    root = Path(results_dir)
    others = sorted(root.glob(f"*/{rid}.json")) if root.is_dir() else []
    for path in others:
        if path.parent.name == experiment:
            continue
        record = reusable(path, provenance, f"{path.parent.name}/{rid}{label}")
        if record is not None:
            print(f"{what}: reusing the same run from experiment {path.parent.name}")
            save_record(results_dir, experiment, record)
            return record
    return None


def save_record(
    results_dir: str | Path, experiment: str, record: dict[str, Any]
) -> Path:
    path = run_path(results_dir, experiment, record["run_id"])
    write_json_atomic(path, record)
    return path


def _records(
    results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    folder = Path(results_dir) / experiment
    if run_ids is not None:
        paths = [folder / f"{rid}.json" for rid in dict.fromkeys(run_ids)]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise FileNotFoundError(f"{folder}: no stored run(s) {absent}")
    else:
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def load_results(
    results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per stored run: run_id, system, seed, ``acc_<lang>`` (+
    ``_low``/``_high``), G, M (+ intervals), dev_M, dev_G, seconds, and the
    ``config``/``curve``/``extra`` as objects.

    ``run_ids`` keeps only those runs (in that order); default: every run of the
    experiment."""
    rows = []
    for rec in _records(results_dir, experiment, run_ids):
        row = {"run_id": rec["run_id"], "system": rec["system"], "seed": rec["seed"]}
        for lang, acc in rec["accuracy"].items():
            ci = rec["ci"]["accuracy"][lang]
            row.update(
                {
                    f"acc_{lang}": acc,
                    f"acc_{lang}_low": ci["low"],
                    f"acc_{lang}_high": ci["high"],
                }
            )
        for m in ("G", "M"):
            row.update(
                {
                    m: rec[m],
                    f"{m}_low": rec["ci"][m]["low"],
                    f"{m}_high": rec["ci"][m]["high"],
                }
            )
        row.update(
            {
                "dev_M": rec["dev"]["M"],
                "dev_G": rec["dev"]["G"],
                "seconds": rec["timings"].get("total"),
                "config": rec["config"],
                "curve": rec["curve"],
                "extra": rec["extra"],
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def load_predictions(
    results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Long table of every stored prediction: run_id, system, seed, id, lang, y,
    y_hat."""
    frames = [
        pd.DataFrame(rec["predictions"]).assign(
            run_id=rec["run_id"], system=rec["system"], seed=rec["seed"]
        )
        for rec in _records(results_dir, experiment, run_ids)
    ]
    cols = ["run_id", "system", "seed", "id", "lang", "y", "y_hat"]
    return (
        pd.concat(frames, ignore_index=True)[cols]
        if frames
        else pd.DataFrame(columns=cols)
    )


HEADLINE_FILE = "headline.json"


def save_headline(
    summary: pd.DataFrame,
    cfg: ExperimentConfig,
    seeds: Sequence[int],
    results_dir: str | Path,
    experiment: str,
) -> Path:
    """Keep the table a chapter produced, with what it was run on, for the intro page to
    show."""
    payload = {
        "experiment": experiment,
        "profile": cfg.profile,
        "corpus": cfg.data.corpus,
        "languages": list(cfg.data.languages),
        "subset": cfg.data.subset,
        "seeds": list(seeds),
        "num_epochs": cfg.train.num_epochs,
        "cpus": os.cpu_count(),
        "device": device_name(cfg.train.device),
        "environment": environment(),
        "table": format_table(summary, cfg.data.languages).to_dict(orient="split"),
    }
    path = Path(results_dir) / HEADLINE_FILE
    write_json_atomic(path, payload)
    return path


def load_headline(
    results_dir: str | Path,
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The last table :func:`save_headline` kept under ``results_dir`` and its context;
    ``None`` if none."""
    path = Path(results_dir) / HEADLINE_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text(encoding="utf-8"))
    split = info.pop("table")
    return pd.DataFrame(
        split["data"], index=split["index"], columns=split["columns"]
    ), info


def record_of(
    system: str,
    cfg: ExperimentConfig,
    seed: int,
    run: SystemRun,
    total_s: float,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """The JSON record of a :class:`~mlcl_core.outputs.SystemRun` that took
    ``total_s``."""
    seconds = {
        "total": total_s,
        **{k: v for k, v in run.info.items() if k.endswith("_s")},
    }
    history = {name: f.history for name, f in run.fits.items()}
    record = make_record(
        system, cfg, seed, run.test, run.dev, history, seconds, n_boot=n_boot
    )
    record["info"] = jsonable(run.info)
    record["best_epoch"] = {name: f.best_epoch for name, f in run.fits.items()}
    return record


def jsonable(obj: Any) -> Any:
    """A JSON-safe copy of a history dict (tensors and arrays become lists)."""
    try:
        return json.loads(
            json.dumps(
                obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)
            )
        )
    except (TypeError, ValueError):
        return str(obj)
