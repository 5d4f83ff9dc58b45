"""Every trainable system by name, and running it into the results store.

:data:`SYSTEMS` is the one registry: the n-gram baselines (``tfidf-linear``,
``tfidf-mlp``), the text baselines (``unique``, ``combined``, ``combined+fgm``,
``combined+pgd``, see :mod:`mlcl_core.baselines`), ``mlcl`` and the speech-free
ablation ``text+lcl`` (:mod:`mlcl_core.textlcl`). Every runner takes
``(cfg, corpus, speech_table, checkpoint_dir, progress)`` and returns a
:class:`~mlcl_core.outputs.SystemRun`. :func:`run_system` runs one system with one seed
and stores it (a stored run is loaded instead); :func:`run_table` runs every system x
seed and returns the paper's Table 2 layout."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlcl_core.baselines import (
    adversary_for,
    evaluate_test_dev,
    run_combined,
    run_ngram_baseline,
    run_unique,
)
from mlcl_core.batching import make_loaders
from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus, load_from_config
from mlcl_core.features import check_speech, corpus_features
from mlcl_core.model import build_mlcl
from mlcl_core.outputs import SystemRun
from mlcl_core.provenance import provenance_of
from mlcl_core.results import (
    find_reusable,
    jsonable,
    record_of,
    run_id,
    save_record,
)
from mlcl_core.runtime import (
    resolve_device,
    run_workers,
    side_by_side,
    start_workers,
)
from mlcl_core.speech import corpus_audio
from mlcl_core.tables import summarize
from mlcl_core.textlcl import run_text_lcl
from mlcl_core.training import Trainer

Runner = Callable[
    [ExperimentConfig, Corpus, "pd.DataFrame | None", "Path | None", bool], SystemRun
]


@dataclass(frozen=True)
class System:
    """A trainable system: its runner and whether it needs synthesised speech."""

    run: Runner
    speech: bool = False


def train_mlcl(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: pd.DataFrame | None,
    checkpoint_dir: Path | None,
    progress: bool,
) -> tuple[Trainer, dict[str, Any], Any, dict[str, Any]]:
    """MLCL trained, not evaluated: build the model, extract its audio features,
    prepare adapters, train. Returns the trainer (best weights loaded), the split
    loaders, the fit and the timings (a search trial scores dev only from these)."""
    if speech_table is None:
        raise ValueError("mlcl needs a speech table (mlcl_core.speech.corpus_audio)")
    check_speech(cfg, corpus, speech_table)  # before the model is built
    model = build_mlcl(cfg, corpus)
    # features and adapters are made where the trainer will train (the GPU if any)
    device = resolve_device(cfg.train.device)
    start = time.perf_counter()
    feats = corpus_features(
        cfg, corpus, speech_table, model.audio_encoder, device=device
    )
    info: dict[str, Any] = {
        "feature_extraction_s": time.perf_counter() - start,
        "clips": len(feats),
    }
    loaders = make_loaders(cfg, corpus, model.tokenizer, feats)
    start = time.perf_counter()
    prep = model.prepare(loaders["train"], device=device, bf16=cfg.train.bf16)
    info.update(prepare_s=time.perf_counter() - start, prepare=jsonable(prep))
    trainer = Trainer(
        model, cfg.train, checkpoint_dir=checkpoint_dir, progress=progress
    )
    fit = trainer.fit(loaders["train"], loaders["dev"])
    return trainer, loaders, fit, info


def run_mlcl(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: pd.DataFrame | None,
    checkpoint_dir: Path | None,
    progress: bool,
) -> SystemRun:
    """MLCL trained (:func:`train_mlcl`) and scored on test and dev."""
    trainer, loaders, fit, info = train_mlcl(
        cfg, corpus, speech_table, checkpoint_dir, progress
    )
    return SystemRun(*evaluate_test_dev(trainer, loaders), {"all": fit}, info)


def _ngram(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: Any,
    checkpoint_dir: Path | None,
    progress: bool,
) -> SystemRun:
    return run_ngram_baseline(corpus, cfg.data.languages, cfg.ngram, cfg.train.seed)


def _unique(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: Any,
    checkpoint_dir: Path | None,
    progress: bool,
) -> SystemRun:
    return run_unique(cfg, corpus, checkpoint_dir, progress)


def _combined(name: str) -> Runner:
    def run(
        cfg: ExperimentConfig,
        corpus: Corpus,
        speech_table: Any,
        checkpoint_dir: Path | None,
        progress: bool,
    ) -> SystemRun:
        adversary = adversary_for(name, cfg.train.pgd_steps)
        return run_combined(cfg, corpus, adversary, checkpoint_dir, progress)

    return run


SYSTEMS: dict[str, System] = {
    "tfidf-linear": System(_ngram),
    "tfidf-mlp": System(_ngram),
    "unique": System(_unique),
    "combined": System(_combined("combined")),
    "combined+fgm": System(_combined("combined+fgm")),
    "combined+pgd": System(_combined("combined+pgd")),
    "mlcl": System(run_mlcl, speech=True),
    "text+lcl": System(run_text_lcl),
}


def check_systems(systems: Iterable[str]) -> list[str]:
    """The systems as a list; unknown names (or none) raise ``ValueError``."""
    systems = list(systems)
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise ValueError(
            f"unknown system(s) {unknown or '(none given)'}; known: "
            f"{', '.join(SYSTEMS)}"
        )
    return systems


def system_config(system: str, cfg: ExperimentConfig, seed: int) -> ExperimentConfig:
    """The config a run of ``system`` with ``seed`` uses, as stored and hashed.

    The seed replaces ``cfg.train.seed``; an n-gram system's name sets the classifier.
    """
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    if system.startswith("tfidf-"):
        cfg = replace(cfg, ngram=replace(cfg.ngram, classifier=system.split("-", 1)[1]))
    return cfg


def prepare_inputs(
    cfg: ExperimentConfig,
    systems: Sequence[str],
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    progress: bool = True,
    start: bool = False,
) -> tuple[Corpus, pd.DataFrame | None]:
    """The corpus (``cfg.data``'s unless given) and, when a system needs it, its
    speech. ``start``: start the training processes of :func:`run_many` first
    (:func:`~mlcl_core.runtime.start_workers`; a chapter's first step), so that their
    imports overlap with loading the corpus and listing the speech."""
    if start:
        start_workers(cfg.train.device)
    corpus = corpus if corpus is not None else load_from_config(cfg.data)
    if speech_table is None and any(SYSTEMS[s].speech for s in systems):
        speech_table = corpus_audio(
            corpus, cfg.speech, cfg.data.languages, progress=progress
        )
    return corpus, speech_table


def run_system(
    cfg: ExperimentConfig,
    system: str,
    seed: int,
    results_dir: str | Path,
    experiment: str,
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    progress: bool = True,
    checkpoint_root: str | Path | None = None,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Run one system with one seed and store it; a stored run is loaded instead.

    A stored run is reused only when today's library code and corpus made it (its
    ``provenance``); otherwise it is rerun, with a printed line saying why. The same
    run stored by another experiment (another chapter) is reused and copied here
    (:func:`mlcl_core.results.find_reusable`).
    ``corpus`` and ``speech_table`` default to :func:`prepare_inputs`'. Training
    checkpoints go under ``checkpoint_root`` (default
    ``<results_dir>/<experiment>/.checkpoints``) so a killed run resumes.
    """
    check_systems([system])
    cfg = system_config(system, cfg, seed)
    rid = run_id(system, cfg, seed)
    corpus = corpus if corpus is not None else load_from_config(cfg.data)
    prov = provenance_of(corpus)
    label = f" ({system}, seed {seed})"
    stored = find_reusable(results_dir, experiment, rid, prov, label)
    if stored is not None:
        return stored
    corpus, speech_table = prepare_inputs(cfg, [system], corpus, speech_table, progress)
    ckpt_root = (
        Path(checkpoint_root)
        if checkpoint_root
        else Path(results_dir) / experiment / ".checkpoints"
    )
    start = time.perf_counter()
    run = SYSTEMS[system].run(cfg, corpus, speech_table, ckpt_root / rid, progress)
    record = record_of(system, cfg, seed, run, time.perf_counter() - start, n_boot)
    record["provenance"] = prov
    save_record(results_dir, experiment, record)
    # the stored record supersedes the checkpoint
    shutil.rmtree(ckpt_root / rid, ignore_errors=True)
    return record


def _run_job(
    job: Job,
    results_dir: str | Path,
    experiment: str,
    n_boot: int,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`run_system` for one job of :func:`run_many`: in a training process
    (without progress bars), or in the caller's process to train or load it there."""
    cfg, system, seed, corpus, speech_table = job
    return run_system(
        cfg,
        system,
        seed,
        results_dir,
        experiment,
        corpus,
        speech_table,
        progress,
        n_boot=n_boot,
    )


#: One run of :func:`run_many`: config, system, seed, corpus and speech table.
Job = tuple[ExperimentConfig, str, int, Corpus, "pd.DataFrame | None"]


def run_many(
    jobs: Sequence[Job],
    results_dir: str | Path,
    experiment: str,
    progress: bool = True,
    n_boot: int = 1000,
) -> list[dict[str, Any]]:
    """:func:`run_system` for every ``(config, system, seed, corpus, speech_table)`` of
    ``jobs``, records in that order. The runs not stored yet train first, side by side
    in :func:`~mlcl_core.runtime.run_workers` processes (one per core on a CPU, each
    with its share of the threads; one at a time on a GPU); a run's record is the same
    whether it trained alone or beside others, up to float noise of the thread count.
    A failing run stops the rest with its error."""
    check_systems([job[1] for job in jobs])
    pending: dict[str, Job] = {}
    for job in jobs:
        cfg, system, seed, corpus, _ = job
        rid = run_id(system, system_config(system, cfg, seed), seed)
        label = f" ({system}, seed {seed})"
        prov = provenance_of(corpus)
        if rid in pending or find_reusable(results_dir, experiment, rid, prov, label):
            continue
        pending[rid] = job
    device = jobs[0][0].train.device if jobs else "cpu"
    if run_workers(device, len(pending)) > 1:  # else each trains below, with progress
        calls = [(job, results_dir, experiment, n_boot) for job in pending.values()]
        side_by_side(_run_job, calls, device, progress)
    return [_run_job(job, results_dir, experiment, n_boot, progress) for job in jobs]


def run_table(
    cfg: ExperimentConfig,
    systems: Sequence[str],
    seeds: Sequence[int],
    results_dir: str | Path,
    experiment: str = "table2",
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    progress: bool = True,
    n_boot: int = 1000,
    configs: Mapping[str, ExperimentConfig] | None = None,
) -> pd.DataFrame:
    """Run (or load) every system x seed; the paper's Table 2 layout (``summarize``).

    ``configs`` gives a system its own config (e.g. MLCL with the searched alpha, beta,
    tau); the others use ``cfg``. ``summary.attrs["run_ids"]`` lists the runs behind the
    table (pass them to :func:`mlcl_core.results.load_results` to get exactly these).
    """
    systems = check_systems(systems)
    configs = dict(configs or {})
    if not seeds:
        raise ValueError("run_table: give at least one seed")
    corpus, speech_table = prepare_inputs(cfg, systems, corpus, speech_table, progress)
    jobs = [
        (configs.get(s, cfg), s, seed, corpus, speech_table)
        for s in systems
        for seed in seeds
    ]
    records = run_many(jobs, results_dir, experiment, progress, n_boot)
    summary = summarize(records, n_boot=n_boot)
    summary.attrs["run_ids"] = [r["run_id"] for r in records]
    return summary
