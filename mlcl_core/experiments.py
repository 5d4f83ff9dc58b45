"""Experiments: a results store, the paper's tables, and the hyperopt search of alpha, beta, tau.

Results store
    Each run writes one JSON file ``<results_dir>/<experiment>/<run-id>.json`` holding its
    config, package versions, git commit, per-language accuracy, G, M, bootstrap intervals,
    dev metrics, predictions (id, lang, y, y_hat), timings and training curve. The run id is a
    hash of (system, config, seed), so a rerun finds a completed run and skips it, and a stopped
    batch continues where it stopped. Files are written atomically (temp file + rename): a
    killed run leaves no half-written result. Chapters build their tables and figures from
    these files with :func:`load_results` / :func:`load_predictions`.

Tables
    :func:`run_table` runs (or loads) every system over several seeds and returns the layout of
    the paper's Table 2: one row per system; per-language accuracy, G and M as the mean over
    seeds, their std over seeds, and a 95 % bootstrap interval over test sentences of the
    seed-averaged accuracy (all seeds' predictions pooled, sentences resampled; so the interval
    reflects test-set noise and the std training noise).

Search
    :func:`search_mlcl` runs hyperopt's TPE over alpha, beta and tau on the dev split.
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

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlcl_core.config import TAU_GRID, ExperimentConfig
from mlcl_core.corpora import load_from_config
from mlcl_core.display import show_progress
from mlcl_core.storage import atomic_path

SYSTEMS: tuple[str, ...] = ("tfidf-linear", "tfidf-mlp", "unique", "combined", "combined+fgm", "combined+pgd",
                            "mlcl")
#: Names used in the book's tables (the paper's, with "mBERT" since that is its encoder).
SYSTEM_NAMES: dict[str, str] = {
    "tfidf-linear": "TF-IDF n-gram linear", "tfidf-mlp": "TF-IDF n-gram MLP", "unique": "BERT-Unique",
    "combined": "BERT-Combined", "combined+fgm": "BERT+FGM", "combined+pgd": "BERT+PGD", "mlcl": "MLCL",
}
MAX_CONTRASTIVE_WEIGHT = 0.9  # alpha + beta never exceeds this in the search
_PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "pandas", "scikit-learn", "hyperopt")


# --------------------------------------------------------------------------- ids and provenance
def run_id(system: str, cfg: ExperimentConfig, seed: int, extra: dict[str, Any] | None = None) -> str:
    """Stable id of a run: a hash of the system, the full config (with ``seed``) and ``extra``."""
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    key = json.dumps({"system": system, "config": cfg.to_dict(), "extra": extra or {}}, sort_keys=True, default=str)
    return f"{system.replace('+', '-')}-s{seed}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def environment() -> dict[str, Any]:
    """Python, platform, package versions and the git commit (``-dirty`` when files changed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if commit and dirty:
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions,
            "git_commit": commit}


# --------------------------------------------------------------------------- the store
def run_path(results_dir: str | Path, experiment: str, rid: str) -> Path:
    return Path(results_dir) / experiment / f"{rid}.json"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=_json_default), encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def make_record(system: str, cfg: ExperimentConfig, seed: int, test: Any, dev: Any, history: dict[str, list],
                seconds: dict[str, float], extra: dict[str, Any] | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """The JSON record of one run from its test/dev :class:`~mlcl_core.training.Evaluation`."""
    from mlcl_core.metrics import bootstrap_ci

    ci = bootstrap_ci(test.y, test.y_hat, test.lang, n_boot=n_boot, seed=seed, ids=test.ids)
    return {
        "run_id": run_id(system, cfg, seed, extra), "system": system, "seed": seed, "extra": extra or {},
        "config": replace(cfg, train=replace(cfg.train, seed=seed)).to_dict(),
        "environment": environment(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "languages": list(test.languages),
        "accuracy": test.accuracy, "G": test.G, "M": test.M,
        "ci": {"accuracy": ci["accuracy"], "G": ci["G"], "M": ci["M"], "n_boot": n_boot, "level": ci["level"]},
        "dev": {"accuracy": dev.accuracy, "G": dev.G, "M": dev.M},
        "predictions": test.to_records(), "timings": seconds, "curve": history,
    }


def save_record(results_dir: str | Path, experiment: str, record: dict[str, Any]) -> Path:
    path = run_path(results_dir, experiment, record["run_id"])
    write_json_atomic(path, record)
    return path


def _records(results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    folder = Path(results_dir) / experiment
    if run_ids is not None:
        paths = [folder / f"{rid}.json" for rid in dict.fromkeys(run_ids)]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise FileNotFoundError(f"{folder}: no stored run(s) {absent}")
    else:
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def load_results(results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per stored run: run_id, system, seed, ``acc_<lang>`` (+ ``_low``/``_high``), G, M
    (+ intervals), dev_M, dev_G, seconds, and the ``config``/``curve``/``extra`` as objects.

    ``run_ids`` keeps only those runs (in that order); default: every run of the experiment.
    """
    rows = []
    for rec in _records(results_dir, experiment, run_ids):
        row = {"run_id": rec["run_id"], "system": rec["system"], "seed": rec["seed"]}
        for lang, acc in rec["accuracy"].items():
            ci = rec["ci"]["accuracy"][lang]
            row.update({f"acc_{lang}": acc, f"acc_{lang}_low": ci["low"], f"acc_{lang}_high": ci["high"]})
        for m in ("G", "M"):
            row.update({m: rec[m], f"{m}_low": rec["ci"][m]["low"], f"{m}_high": rec["ci"][m]["high"]})
        row.update({"dev_M": rec["dev"]["M"], "dev_G": rec["dev"]["G"], "seconds": rec["timings"].get("total"),
                    "config": rec["config"], "curve": rec["curve"], "extra": rec["extra"]})
        rows.append(row)
    return pd.DataFrame(rows)


def load_predictions(results_dir: str | Path, experiment: str, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table of every stored prediction: run_id, system, seed, id, lang, y, y_hat."""
    frames = [pd.DataFrame(rec["predictions"]).assign(run_id=rec["run_id"], system=rec["system"], seed=rec["seed"])
              for rec in _records(results_dir, experiment, run_ids)]
    cols = ["run_id", "system", "seed", "id", "lang", "y", "y_hat"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------- running systems
def check_systems(systems: Iterable[str]) -> list[str]:
    systems = list(systems)
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise ValueError(f"unknown system(s) {unknown or '(none given)'}; known: {', '.join(SYSTEMS)}")
    return systems


def _train_mlcl(cfg: ExperimentConfig, corpus: Any, speech_table: pd.DataFrame, checkpoint_dir: Path | None,
                progress: bool):
    """Build MLCL (tokenizer, encoders, cached features), prepare adapters, train; test/dev/fit."""
    from mlcl_core.batching import ParallelDataset, make_loader
    from mlcl_core.model import build_mlcl
    from mlcl_core.training import Trainer

    model, tokenizer, feats = build_mlcl(cfg, corpus, speech_table)
    loaders = {split: make_loader(ParallelDataset(corpus, split, tokenizer, cfg.data.languages,
                                                  cfg.data.max_text_len, feats),
                                  cfg.train.batch_size, shuffle=split == "train", seed=cfg.train.seed)
               for split in ("train", "dev", "test")}
    start = time.perf_counter()
    prep = model.prepare(loaders["train"])
    prepare_s = time.perf_counter() - start
    trainer = Trainer(model, cfg.train, checkpoint_dir=checkpoint_dir, progress=progress)
    fit = trainer.fit(loaders["train"], loaders["dev"])
    info = {**getattr(model, "timings", {}), "prepare_s": prepare_s, "prepare": _jsonable(prep)}
    return trainer.evaluate(loaders["test"]), trainer.evaluate(loaders["dev"]), fit, info


def _jsonable(obj: Any) -> Any:
    """A JSON-safe copy of a history dict (tensors and arrays become lists)."""
    try:
        return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    except (TypeError, ValueError):
        return str(obj)


def run_system(cfg: ExperimentConfig, system: str, seed: int, results_dir: str | Path, experiment: str,
               corpus: Any = None, speech_table: pd.DataFrame | None = None, progress: bool = True,
               checkpoint_root: str | Path | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """Run one system with one seed and store it; a stored run is loaded instead of rerun.

    ``corpus`` defaults to ``load_from_config(cfg.data)``; ``speech_table`` (MLCL only) to
    synthesising it with ``cfg.speech``. Training checkpoints go under ``checkpoint_root``
    (default ``<results_dir>/<experiment>/.checkpoints``) so a killed run resumes.
    """
    check_systems([system])
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    rid = run_id(system, cfg, seed)
    path = run_path(results_dir, experiment, rid)
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if corpus is None:
        corpus = load_from_config(cfg.data)
    ckpt_root = Path(checkpoint_root) if checkpoint_root else Path(results_dir) / experiment / ".checkpoints"
    start = time.perf_counter()
    if system == "mlcl":
        if speech_table is None:
            from mlcl_core.speech.corpus import corpus_audio
            speech_table = corpus_audio(corpus, cfg.speech, cfg.data.languages, progress=progress)
        test, dev, fit, info = _train_mlcl(cfg, corpus, speech_table, ckpt_root / rid, progress)
        fits = {"all": fit}
    else:
        from mlcl_core.baselines import run_baseline
        run = run_baseline(cfg, corpus, system, ckpt_root / rid, progress)
        test, dev, fits, info = run.test, run.dev, run.fits, run.info
    seconds = {"total": time.perf_counter() - start, **{k: v for k, v in info.items() if k.endswith("_s")}}
    history = {name: f.history for name, f in fits.items()}
    record = make_record(system, cfg, seed, test, dev, history, seconds, n_boot=n_boot)
    record["info"] = _jsonable(info)
    record["best_epoch"] = {name: f.best_epoch for name, f in fits.items()}
    save_record(results_dir, experiment, record)
    shutil.rmtree(ckpt_root / rid, ignore_errors=True)  # the stored record supersedes the checkpoint
    return record


# --------------------------------------------------------------------------- Table 2
def run_table(cfg: ExperimentConfig, systems: Sequence[str], seeds: Sequence[int], results_dir: str | Path,
              experiment: str = "table2", corpus: Any = None, speech_table: pd.DataFrame | None = None,
              progress: bool = True, n_boot: int = 1000,
              configs: Mapping[str, ExperimentConfig] | None = None) -> pd.DataFrame:
    """Run (or load) every system x seed and return the paper's Table 2 layout (see :func:`summarize`).

    ``configs`` gives a system its own config (e.g. MLCL with the searched alpha, beta, tau);
    the others use ``cfg``. ``summary.attrs["run_ids"]`` lists the runs behind the table (pass
    them to :func:`load_results` to get exactly these runs back).
    """
    systems = check_systems(systems)
    configs = dict(configs or {})
    if not seeds:
        raise ValueError("run_table: give at least one seed")
    if corpus is None:
        corpus = load_from_config(cfg.data)
    if "mlcl" in systems and speech_table is None:
        from mlcl_core.speech.corpus import corpus_audio
        speech_table = corpus_audio(corpus, cfg.speech, cfg.data.languages, progress=progress)
    records = [run_system(configs.get(s, cfg), s, seed, results_dir, experiment, corpus, speech_table, progress,
                          n_boot=n_boot)
               for s in systems for seed in seeds]
    summary = summarize(records, n_boot=n_boot)
    summary.attrs["run_ids"] = [r["run_id"] for r in records]
    return summary


def summarize(records: Sequence[dict[str, Any]], n_boot: int = 1000) -> pd.DataFrame:
    """Table 2 layout from run records: one row per system (in first-seen order).

    Columns, for each language and for G and M: ``<col>`` (mean over seeds), ``<col>_std``
    (std over seeds, NaN for one seed), ``<col>_low``/``<col>_high`` (bootstrap interval of
    the seed-averaged value, all seeds' predictions pooled); plus ``n_seeds``.
    """
    from mlcl_core.metrics import bootstrap_ci, seed_summary

    by_system: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_system.setdefault(rec["system"], []).append(rec)
    rows = []
    for system, recs in by_system.items():
        summ = seed_summary(recs)
        preds = pd.DataFrame([p for r in recs for p in r["predictions"]])
        ci = bootstrap_ci(preds["y"], preds["y_hat"], preds["lang"], n_boot=n_boot, seed=0, ids=preds["id"])
        row: dict[str, Any] = {"system": system, "n_seeds": len(recs)}
        for lang, ms in summ["accuracy"].items():
            row.update({lang: ms["mean"], f"{lang}_std": ms["std"],
                        f"{lang}_low": ci["accuracy"][lang]["low"], f"{lang}_high": ci["accuracy"][lang]["high"]})
        for m in ("G", "M"):
            row.update({m: summ[m]["mean"], f"{m}_std": summ[m]["std"], f"{m}_low": ci[m]["low"],
                        f"{m}_high": ci[m]["high"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("system")


def format_table(summary: pd.DataFrame, languages: Sequence[str], names: dict[str, str] | None = None) -> pd.DataFrame:
    """Human-readable Table 2: accuracy in %, ``mean ± std [low, high]``; G and M as fractions."""
    from mlcl_core.corpora import LANGUAGE_NAMES

    names = names or SYSTEM_NAMES
    out = pd.DataFrame(index=pd.Index([names.get(s, s) for s in summary.index], name="system"))
    for col, scale, digits in [*[(lang, 100.0, 1) for lang in languages], ("G", 1.0, 4), ("M", 1.0, 4)]:
        cells = []
        for _, r in summary.iterrows():
            text = f"{r[col] * scale:.{digits}f}"
            if np.isfinite(r[f"{col}_std"]):
                text += f" ± {r[f'{col}_std'] * scale:.{digits}f}"
            cells.append(text + f" [{r[f'{col}_low'] * scale:.{digits}f}, {r[f'{col}_high'] * scale:.{digits}f}]")
        out[LANGUAGE_NAMES.get(col, col)] = cells
    return out


HEADLINE_FILE = "headline.json"


def save_headline(summary: pd.DataFrame, cfg: ExperimentConfig, seeds: Sequence[int], results_dir: str | Path,
                  experiment: str) -> Path:
    """Keep the table a chapter produced, with what it was run on, for the intro page to show."""
    payload = {"experiment": experiment, "profile": cfg.profile, "corpus": cfg.data.corpus,
               "languages": list(cfg.data.languages), "subset": cfg.data.subset, "seeds": list(seeds),
               "num_epochs": cfg.train.num_epochs, "cpus": os.cpu_count(), "environment": environment(),
               "table": format_table(summary, cfg.data.languages).to_dict(orient="split")}
    path = Path(results_dir) / HEADLINE_FILE
    write_json_atomic(path, payload)
    return path


def load_headline(results_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The last table :func:`save_headline` kept under ``results_dir`` and its context; ``None`` if none."""
    path = Path(results_dir) / HEADLINE_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text(encoding="utf-8"))
    split = info.pop("table")
    return pd.DataFrame(split["data"], index=split["index"], columns=split["columns"]), info


# --------------------------------------------------------------------------- hyperopt
def search_space() -> dict[str, Any]:
    """hyperopt space: alpha, the share of the remaining contrastive mass given to beta, tau."""
    from hyperopt import hp

    return {"alpha": hp.uniform("alpha", 0.0, MAX_CONTRASTIVE_WEIGHT),
            "beta_share": hp.uniform("beta_share", 0.0, 1.0),
            "tau": hp.choice("tau", list(TAU_GRID))}


def weights_from_sample(sample: dict[str, float]) -> tuple[float, float, float]:
    """(alpha, beta, tau) of a point of :func:`search_space`; alpha + beta <= 0.9 < 1 always."""
    alpha = float(sample["alpha"])
    beta = float(sample["beta_share"]) * (MAX_CONTRASTIVE_WEIGHT - alpha)
    return alpha, beta, float(sample["tau"])


def search_objective(M: float, G: float) -> float:  # noqa: N803 - the paper's names
    """What the search minimises on dev: ``(1 - M) + G`` (see the module docstring)."""
    return (1.0 - M) + G


def tpe_search(evaluate: Callable[[float, float, float], dict[str, float]], max_evals: int,
               trials_path: str | Path, seed: int = 0, progress: bool = False) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE over (alpha, beta, tau); ``evaluate(alpha, beta, tau)`` returns dev ``{"M", "G"}``.

    Trials are pickled to ``trials_path`` after every evaluation and loaded from it when it
    exists, so calling again with a larger ``max_evals`` continues the search. Returns the best
    ``{"alpha", "beta", "tau"}`` and the trials table (:func:`trials_frame`).
    """
    import pickle

    from hyperopt import STATUS_OK, Trials, fmin, tpe

    if max_evals < 1:
        raise ValueError(f"max_evals must be >= 1, got {max_evals}")
    trials_path = Path(trials_path)
    trials_path.parent.mkdir(parents=True, exist_ok=True)
    trials = pickle.loads(trials_path.read_bytes()) if trials_path.is_file() else Trials()

    def objective(sample: dict[str, float]) -> dict[str, Any]:
        alpha, beta, tau = weights_from_sample(sample)
        dev = evaluate(alpha, beta, tau)
        return {"loss": search_objective(dev["M"], dev["G"]), "status": STATUS_OK,
                "alpha": alpha, "beta": beta, "tau": tau, "M": dev["M"], "G": dev["G"]}

    for _ in range(len(trials.trials), max_evals):  # one at a time so every trial is saved
        fmin(objective, search_space(), algo=tpe.suggest, max_evals=len(trials.trials) + 1, trials=trials,
             rstate=np.random.default_rng(seed + len(trials.trials)), show_progressbar=show_progress(progress))
        with atomic_path(trials_path) as tmp:
            tmp.write_bytes(pickle.dumps(trials))
    frame = trials_frame(trials)
    best = frame.loc[frame["loss"].idxmin()]
    return {"alpha": float(best["alpha"]), "beta": float(best["beta"]), "tau": float(best["tau"])}, frame


def trials_frame(trials: Any) -> pd.DataFrame:
    """hyperopt trials as a table, one row per trial (its number as the row label): alpha,
    beta, tau, dev M, dev G, loss."""
    rows = [{"trial": i, **{k: t["result"][k] for k in ("alpha", "beta", "tau", "M", "G", "loss")}}
            for i, t in enumerate(trials.trials) if t["result"].get("status") == "ok"]
    return pd.DataFrame(rows, columns=["trial", "alpha", "beta", "tau", "M", "G", "loss"]).set_index("trial")


def load_trials(trials_path: str | Path) -> pd.DataFrame:
    """The trials table of a saved search (empty when none was saved)."""
    import pickle

    path = Path(trials_path)
    if not path.is_file():
        return pd.DataFrame(columns=["trial", "alpha", "beta", "tau", "M", "G", "loss"]).set_index("trial")
    return trials_frame(pickle.loads(path.read_bytes()))


def search_mlcl(cfg: ExperimentConfig, max_evals: int, results_dir: str | Path, seed: int = 0,
                corpus: Any = None, speech_table: pd.DataFrame | None = None, experiment: str = "search",
                progress: bool = False) -> tuple[dict[str, float], pd.DataFrame]:
    """TPE search of MLCL's alpha, beta, tau on the dev split; each trial is a stored run.

    Returns the best ``{"alpha", "beta", "tau"}`` and the trials table; trials are kept in
    :func:`search_trials_path`.
    """
    if corpus is None:
        corpus = load_from_config(cfg.data)
    if speech_table is None:
        from mlcl_core.speech.corpus import corpus_audio
        speech_table = corpus_audio(corpus, cfg.speech, cfg.data.languages, progress=progress)

    def evaluate(alpha: float, beta: float, tau: float) -> dict[str, float]:
        trial_cfg = replace(cfg, loss=replace(cfg.loss, alpha=alpha, beta=beta, tau=tau))
        rec = run_system(trial_cfg, "mlcl", seed, results_dir, experiment, corpus, speech_table, progress)
        return {"M": rec["dev"]["M"], "G": rec["dev"]["G"]}

    return tpe_search(evaluate, max_evals, search_trials_path(cfg, results_dir, experiment, seed), seed, progress)


def search_trials_path(cfg: ExperimentConfig, results_dir: str | Path, experiment: str = "search", seed: int = 0) -> Path:
    """Where :func:`search_mlcl` keeps the trials of a search over ``cfg`` (one file per config and seed,
    so searches over different data or encoders never mix)."""
    base = replace(cfg, loss=replace(cfg.loss, alpha=0.0, beta=0.0, tau=1.0))  # the searched values do not count
    return Path(results_dir) / experiment / f"trials-{run_id('search', base, seed)}.pkl"


# --------------------------------------------------------------------------- published numbers
#: Published rows to compare with: accuracy (%) for zho_Hans, bod_Tibt, mya_Mymr, then G and M.
#: SIB-200 rows use the same SIB-200 test set as our ``sib200`` runs; the MLCL paper's rows use
#: its own Flores-200 (Table 2) and mms (Table 3) splits, so they are context, not a paired test.
REFERENCE_ROWS: dict[str, list[tuple[str, str, float, float, float, float, float]]] = {
    "sib200": [
        ("SIB-200 (Adelani et al. 2023)", "n-gram MLP", 74.67, 72.14, 65.73, 0.028, 0.709),
        ("SIB-200 (Adelani et al. 2023)", "XLM-R base", 90.2, 24.8, 81.1, 0.222, 0.654),
        ("SIB-200 (Adelani et al. 2023)", "XLM-R large", 90.1, 25.0, 87.2, 0.215, 0.674),
        ("SIB-200 (Adelani et al. 2023)", "GPT-4 zero-shot", 79.5, 13.6, 62.2, 0.283, 0.518),
        ("MLCL paper, Table 2 (its Flores-200 split)", "mBERT-Combined", 87.24, 58.38, 46.19, 0.1427, 0.6394),
        ("MLCL paper, Table 2 (its Flores-200 split)", "MLCL", 84.67, 59.21, 48.71, 0.1245, 0.6420),
    ],
    "mms": [
        ("MLCL paper, Table 3 (mms)", "mBERT-Unique", 71.91, 42.17, 25.54, 0.2216, 0.4656),
        ("MLCL paper, Table 3 (mms)", "mBERT-Combined", 80.25, 45.15, 39.01, 0.1672, 0.5480),
        ("MLCL paper, Table 3 (mms)", "mBERT+PGD", 79.67, 44.76, 37.07, 0.1759, 0.5383),
        ("MLCL paper, Table 3 (mms)", "mBERT+FGM", 77.82, 44.23, 35.58, 0.1786, 0.5254),
        ("MLCL paper, Table 3 (mms)", "MLCL", 79.70, 48.42, 42.01, 0.1477, 0.5671),
    ],
}
REFERENCE_ROWS["flores200"] = REFERENCE_ROWS["sib200"][-2:]


def reference_table(corpus: str) -> pd.DataFrame:
    """The published rows for ``corpus`` (accuracies as fractions, like ours), labelled by
    (source, system)."""
    rows = [{"source": src, "system": name, "zho_Hans": zh / 100, "bod_Tibt": bo / 100, "mya_Mymr": my / 100,
             "G": g, "M": m} for src, name, zh, bo, my, g, m in REFERENCE_ROWS.get(corpus, [])]
    table = pd.DataFrame(rows, columns=["source", "system", "zho_Hans", "bod_Tibt", "mya_Mymr", "G", "M"])
    return table.set_index(["source", "system"])


def _inside(value: float, low: float, high: float) -> str:
    return "inside" if low <= value <= high else "outside"


def comparison_prose(summary: pd.DataFrame, corpus: str, languages: Sequence[str],
                     names: dict[str, str] | None = None) -> str:
    """Markdown that compares our table with the published rows, every number from ``summary``.

    A published value counts as *inside the noise* when it lies in our 95 % bootstrap interval;
    two of our systems are indistinguishable when their intervals overlap (a conservative test).
    """
    names = names or SYSTEM_NAMES
    lines = []
    best = summary["M"].idxmax()
    lines.append(f"Our best mean accuracy is {names.get(best, best)}'s, M = {summary.loc[best, 'M']:.3f} "
                 f"[{summary.loc[best, 'M_low']:.3f}, {summary.loc[best, 'M_high']:.3f}], "
                 f"with G = {summary.loc[best, 'G']:.3f}.")
    if "mlcl" in summary.index:
        m = summary.loc["mlcl"]
        for other in summary.index.drop("mlcl"):
            o = summary.loc[other]
            overlap = m["M_low"] <= o["M_high"] and o["M_low"] <= m["M_high"]
            lines.append(f"MLCL vs {names.get(other, other)}: M {m['M']:.3f} vs {o['M']:.3f} "
                         f"({m['M'] - o['M']:+.3f}), G {m['G']:.3f} vs {o['G']:.3f} "
                         f"({m['G'] - o['G']:+.3f}); the M intervals "
                         + ("overlap, so this difference is inside the noise." if overlap
                            else "do not overlap, so this difference is outside the noise."))
    refs = reference_table(corpus)
    if refs.empty:
        lines.append(f"There are no published numbers for corpus {corpus!r} to compare with.")
    elif tuple(languages) != ("zho_Hans", "bod_Tibt", "mya_Mymr"):
        lines.append(f"The published rows are for Chinese, Tibetan and Burmese; this run has {list(languages)}, "
                     "and G and M over other language sets are not comparable.")
    else:
        row = summary.loc["mlcl"] if "mlcl" in summary.index else summary.loc[best]
        who = "MLCL" if "mlcl" in summary.index else names.get(best, best)
        for (source, system), ref in refs.iterrows():
            lines.append(f"{source}, {system}: M {ref['M']:.3f} "
                         f"({_inside(ref['M'], row['M_low'], row['M_high'])} {who}'s M interval "
                         f"[{row['M_low']:.3f}, {row['M_high']:.3f}]), G {ref['G']:.3f} "
                         f"({_inside(ref['G'], row['G_low'], row['G_high'])} {who}'s G interval "
                         f"[{row['G_low']:.3f}, {row['G_high']:.3f}]).")
    if summary["n_seeds"].min() > 1:
        worst = summary["M_std"].idxmax()
        lines.append(f"Across seeds, M varies by up to {summary.loc[worst, 'M_std']:.3f} (std, "
                     f"{names.get(worst, worst)}), a second measure of the noise.")
    return "\n".join(f"- {line}" for line in lines)
