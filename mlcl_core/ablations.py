"""Chapter 6's ablation rows (paper Table 5) and tau curve, as configs of registered
systems.

Every row is a :class:`Ablation`: a readable name, a system of
:data:`mlcl_core.systems.SYSTEMS` and the config it runs with. Rows that switch a part
of MLCL off are config overrides of the base config (beta = 0, alpha = 0, adapter kind
``none``, fusion alignment and [CLS] audio), so each has its own run id in the results
store; the speech-free row is the ``text+lcl`` system. :func:`run_ablations` runs (or
loads) rows x seeds, :func:`ablation_summary` gives the Table 2 layout, one row per
ablation, and :func:`difference_table` each row's paired difference from the full
model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus
from mlcl_core.paired import noise_verdict, paired_difference
from mlcl_core.systems import prepare_inputs, run_many
from mlcl_core.tables import summarize


@dataclass(frozen=True)
class Ablation:
    """One row of the ablation table: its name, the system and config that run it."""

    name: str
    system: str
    config: ExperimentConfig


def _loss(cfg: ExperimentConfig, **kw: float) -> ExperimentConfig:
    return replace(cfg, loss=replace(cfg.loss, **kw))


def _fusion(cfg: ExperimentConfig, **kw: Any) -> ExperimentConfig:
    return replace(cfg, fusion=replace(cfg.fusion, **kw))


def ablation_configs(cfg: ExperimentConfig) -> list[Ablation]:
    """The ablation rows from the full model's config ``cfg``, full model first.

    A fusion row sets the other choice than ``cfg``'s (segments vs cross-attention;
    [CLS] without vs with audio). Raises ``ValueError`` when ``cfg`` already has
    alpha or beta 0 or no adapters, since a row would then equal the full model."""
    if cfg.loss.alpha == 0 or cfg.loss.beta == 0 or cfg.adapter.kind == "none":
        raise ValueError(
            "ablation_configs needs the full model (alpha > 0, beta > 0, adapters); "
            f"got alpha={cfg.loss.alpha}, beta={cfg.loss.beta}, "
            f"adapter kind {cfg.adapter.kind!r}"
        )
    align = "segments" if cfg.fusion.align == "cross_attention" else "cross_attention"
    cls = cfg.fusion.cls_audio
    # The speech-free row keeps eq. 13's CE weight for LCL's text term: no MCL.
    text_cfg = _loss(cfg, alpha=0.0)
    return [
        Ablation("MLCL", "mlcl", cfg),
        Ablation("MLCL w/o LCL", "mlcl", _loss(cfg, beta=0.0)),
        Ablation("MLCL w/o MCL", "mlcl", _loss(cfg, alpha=0.0)),
        Ablation(
            "MLCL w/o adapters",
            "mlcl",
            replace(cfg, adapter=replace(cfg.adapter, kind="none")),
        ),
        Ablation("w/o speech (text encoder + LCL)", "text+lcl", text_cfg),
        Ablation(f"MLCL, {align} alignment", "mlcl", _fusion(cfg, align=align)),
        Ablation(
            f"MLCL, [CLS] {'without' if cls else 'with'} audio",
            "mlcl",
            _fusion(cfg, cls_audio=not cls),
        ),
    ]


def tau_configs(cfg: ExperimentConfig, taus: Sequence[float]) -> list[Ablation]:
    """One MLCL row per temperature in ``taus`` (each > 0, no repeats)."""
    if not taus or len(set(taus)) != len(taus) or min(taus) <= 0:
        raise ValueError(f"taus must be distinct and > 0, got {list(taus)}")
    return [Ablation(f"MLCL, tau = {t:g}", "mlcl", _loss(cfg, tau=t)) for t in taus]


def run_ablations(
    rows: Sequence[Ablation],
    seeds: Sequence[int],
    results_dir: str | Path,
    experiment: str = "table5",
    corpus: Corpus | None = None,
    speech_table: pd.DataFrame | None = None,
    progress: bool = True,
    n_boot: int = 1000,
) -> dict[str, list[dict[str, Any]]]:
    """Run (or load from the store) every row x seed: ``{row name: records}``.

    Rows with equal data configs share one corpus and speech table (``corpus`` and
    ``speech_table``, if given, are those of the one data config all rows must then
    share); rows of data-length curves (``DataConfig.train_sentences``) get their
    own."""
    names = [r.name for r in rows]
    if not rows or len(set(names)) != len(names) or not seeds:
        raise ValueError(f"give distinct rows and some seeds, got {names}, {seeds}")
    groups: dict[Any, list[Ablation]] = {}
    for r in rows:
        groups.setdefault(r.config.data, []).append(r)
    if len(groups) > 1 and (corpus is not None or speech_table is not None):
        raise ValueError("a given corpus or speech table needs one data config")
    jobs, owners = [], []
    for group in groups.values():
        inputs = prepare_inputs(
            group[0].config, [r.system for r in group], corpus, speech_table, progress
        )
        for r in group:
            jobs += [(r.config, r.system, seed, *inputs) for seed in seeds]
            owners += [r.name] * len(seeds)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    records = run_many(jobs, results_dir, experiment, progress, n_boot=n_boot)
    for name, record in zip(owners, records, strict=True):
        out[name].append(record)
    return {name: out[name] for name in names}


def ablation_summary(
    records: dict[str, list[dict[str, Any]]], n_boot: int = 1000
) -> pd.DataFrame:
    """:func:`~mlcl_core.tables.summarize` with one row per ablation (indexed by the
    row name, not the system, since several rows are ``mlcl``)."""
    relabelled = [
        {**rec, "system": name} for name, recs in records.items() for rec in recs
    ]
    return summarize(relabelled, n_boot=n_boot)


def difference_table(
    records: dict[str, list[dict[str, Any]]],
    reference: str,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each other row minus ``reference`` (a row name of ``records``): G, M and their
    paired bootstrap intervals (:func:`mlcl_core.paired.paired_difference`) and the
    one-sentence verdict (:func:`mlcl_core.paired.noise_verdict`), one row each."""
    if reference not in records:
        raise ValueError(f"reference row {reference!r} not in {list(records)}")
    rows = []
    for name, recs in records.items():
        if name == reference:
            continue
        diff = paired_difference(records[reference], recs, n_boot, seed)
        row: dict[str, Any] = {"row": name}
        for stat, (d, low, high) in diff.items():
            row.update({stat: d, f"{stat}_low": low, f"{stat}_high": high})
        row["verdict"] = noise_verdict(name, diff, reference)
        rows.append(row)
    columns = ["row", "G", "G_low", "G_high", "M", "M_low", "M_high", "verdict"]
    return pd.DataFrame(rows, columns=columns).set_index("row")
