"""Chapter 6's ablation rows (paper Table 5) and tau curve, as configs of registered
systems.

Every row is a :class:`Ablation`: a readable name, a system of
:data:`mlcl_core.systems.SYSTEMS` and the config it runs with. Rows that switch a part
of MLCL off are config overrides of the base config (beta = 0, alpha = 0, adapter kind
``none``, fusion alignment and [CLS] audio), so each has its own run id in the results
store; the speech-free row is the ``text+lcl`` system. :func:`run_ablations` runs (or
loads) rows x seeds and :func:`ablation_summary` gives the Table 2 layout, one row per
ablation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus
from mlcl_core.systems import prepare_inputs, run_system
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

    All rows share the first row's corpus and speech (their data configs must be
    equal)."""
    names = [r.name for r in rows]
    if not rows or len(set(names)) != len(names) or not seeds:
        raise ValueError(f"give distinct rows and some seeds, got {names}, {seeds}")
    data = {r.config.data for r in rows}
    if len(data) > 1:
        raise ValueError("ablation rows must share one data config")
    corpus, speech_table = prepare_inputs(
        rows[0].config, [r.system for r in rows], corpus, speech_table, progress
    )
    return {
        r.name: [
            run_system(
                r.config,
                r.system,
                seed,
                results_dir,
                experiment,
                corpus,
                speech_table,
                progress,
                n_boot=n_boot,
            )
            for seed in seeds
        ]
        for r in rows
    }


def ablation_summary(
    records: dict[str, list[dict[str, Any]]], n_boot: int = 1000
) -> pd.DataFrame:
    """:func:`~mlcl_core.tables.summarize` with one row per ablation (indexed by the
    row name, not the system, since several rows are ``mlcl``)."""
    relabelled = [
        {**rec, "system": name} for name, recs in records.items() for rec in recs
    ]
    return summarize(relabelled, n_boot=n_boot)
