"""Chapter 6's report of the ablations: which runs are already stored, the tau curve,
our rows beside the paper's Table 5, and the prose on what the differences say.

:mod:`mlcl_core.ablations` makes and runs the rows; this module reads what they gave.
Every sentence of :func:`findings` is computed from the runs, so the chapter's prose
follows the numbers when a bigger setting is run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcl_core.ablations import Ablation, ablation_summary
from mlcl_core.datalength import labels_predicted
from mlcl_core.results import run_id, run_path
from mlcl_core.systems import system_config
from mlcl_core.tables import reference_table


def run_plan(
    rows: Sequence[Ablation],
    seeds: Sequence[int],
    results_dir: str | Path,
    experiment: str,
) -> pd.DataFrame:
    """Where each row x seed's run is stored before anything runs: one row per run
    with ``row``, ``seed``, ``run_id`` and ``stored_in`` (``experiment`` itself,
    another experiment of ``results_dir`` whose run has the same id, or ``""``: to
    train). A stored run made by other library code is still rerun by
    :func:`mlcl_core.systems.run_system`, with a printed line."""
    root = Path(results_dir)
    out = []
    for r in rows:
        for seed in seeds:
            rid = run_id(r.system, system_config(r.system, r.config, seed), seed)
            where = ""
            if run_path(root, experiment, rid).is_file():
                where = experiment
            elif root.is_dir():
                found = sorted(p.parent.name for p in root.glob(f"*/{rid}.json"))
                where = found[0] if found else ""
            out.append({"row": r.name, "seed": seed, "run_id": rid, "stored_in": where})
    return pd.DataFrame(out, columns=["row", "seed", "run_id", "stored_in"])


def plan_line(plan: pd.DataFrame, experiment: str) -> str:
    """One sentence: how many runs train, load from ``experiment`` and are reused from
    other experiments (named, with their rows)."""
    new = plan[plan["stored_in"] == ""]
    own = plan[plan["stored_in"] == experiment]
    other = plan[~plan.index.isin(new.index) & ~plan.index.isin(own.index)]
    parts = [
        f"{len(plan)} runs: {len(new)} to train, {len(own)} already in {experiment}"
    ]
    if len(other):
        reused = [
            f"{row} (seeds {', '.join(map(str, g['seed']))}) from {exp}"
            for (exp, row), g in other.groupby(["stored_in", "row"], sort=False)
        ]
        parts.append(f"{len(other)} reused from other chapters: " + "; ".join(reused))
    else:
        parts.append("none reused from other chapters")
    return "; ".join(parts) + "."


def tau_curve(
    rows: Sequence[Ablation],
    records: dict[str, list[dict[str, Any]]],
    n_boot: int = 1000,
) -> pd.DataFrame:
    """:func:`~mlcl_core.ablations.ablation_summary` of the tau rows with a ``tau``
    column, sorted by tau (``rows`` from :func:`~mlcl_core.ablations.tau_configs`)."""
    summary = ablation_summary({r.name: records[r.name] for r in rows}, n_boot)
    summary.insert(0, "tau", [r.config.loss.tau for r in rows])
    return summary.sort_values("tau")


def beside_paper(summary: pd.DataFrame, languages: Sequence[str]) -> pd.DataFrame:
    """Our rows' accuracies, G and M next to the paper's Table 5 (its own Flores-200
    split: context, no verdict). Columns ``(source, measure)``; the paper's columns are
    NaN where it has no such row (speech-free, fusion and tau rows)."""
    paper = reference_table("table5").droplevel("source")
    cols = [*languages, "G", "M"]
    ours = summary[cols]
    theirs = paper.reindex(ours.index)[[c for c in cols if c in paper.columns]]
    return pd.concat({"ours": ours, "paper, Table 5": theirs}, axis=1)


def _test_sentences(records: Sequence[dict[str, Any]]) -> int:
    """Test sentences per language of a run (the smallest language count)."""
    preds = pd.DataFrame(records[0]["predictions"])
    return int(preds.groupby("lang")["id"].nunique().min())


def _is_outside(row: pd.Series, stat: str) -> bool:
    return bool(row[f"{stat}_low"] > 0 or row[f"{stat}_high"] < 0)


def _cell(row: pd.Series, stat: str) -> str:
    low, high = row[f"{stat}_low"], row[f"{stat}_high"]
    return f"{stat} {row[stat]:+.3f} [{low:+.3f}, {high:+.3f}]"


def _paper_effects(reference: str) -> list[tuple[str, float]]:
    """The paper's Table 5 M differences from its full model, by row name."""
    paper = reference_table("table5").droplevel("source")
    if reference not in paper.index:
        return []
    full = paper.loc[reference, "M"]
    return [(name, m - full) for name, m in paper["M"].items() if name != reference]


def _paper_line(reference: str, half: float) -> list[str]:
    """The paper's Table 5 effects set against the smallest effect we can resolve."""
    effects = _paper_effects(reference)
    if not effects:
        return []
    small = [f"{n} ({d:+.4f})" for n, d in effects if abs(d) < half]
    large = [f"{n} ({d:+.4f})" for n, d in effects if abs(d) >= half]
    text = "The paper's Table 5 M differences from its full model: "
    if small:
        text += f"{', '.join(small)} are smaller than that and could not show here"
    if small and large:
        text += "; "
    if large:
        text += f"{', '.join(large)} would be large enough to show"
    return [text + " (its split and encoders differ: no verdict against it)."]


def findings(
    differences: pd.DataFrame,
    summary: pd.DataFrame,
    records: dict[str, list[dict[str, Any]]],
    reference: str = "MLCL",
) -> str:
    """Markdown bullets, every number from the runs: the rows whose M or G difference
    from ``reference`` is outside the noise (95 % paired interval excludes 0), the rows
    inside it, how wide the intervals are and so what size of effect this setting can
    resolve (against the paper's Table 5 effects), and the spread over seeds, which the
    paired interval over test sentences does not include."""
    if differences.empty:
        raise ValueError("findings: the difference table has no row")
    outside = [
        n
        for n, r in differences.iterrows()
        if _is_outside(r, "M") or _is_outside(r, "G")
    ]
    inside = [n for n in differences.index if n not in outside]
    lines = []
    if outside:
        cells = [
            f"{n} ({_cell(differences.loc[n], 'M')}; {_cell(differences.loc[n], 'G')})"
            for n in outside
        ]
        lines.append(
            "Outside the noise (a 95 % paired interval excludes 0): "
            + "; ".join(cells)
            + "."
        )
    else:
        lines.append(
            f"No row's M or G differs from {reference}'s beyond the noise: every 95 % "
            "paired interval contains 0."
        )
    if inside:
        lines.append(f"Inside the noise on both M and G: {', '.join(inside)}.")
    widths = {s: differences[f"{s}_high"] - differences[f"{s}_low"] for s in ("M", "G")}
    n_test = _test_sentences(records[reference])
    seeds = int(summary.loc[reference, "n_seeds"])
    half = float(widths["M"].median()) / 2
    lines.append(
        f"With {n_test} test sentences per language and {seeds} seed(s), the paired "
        f"intervals are {widths['M'].min():.3f} to {widths['M'].max():.3f} wide in M "
        f"and {widths['G'].min():.3f} to {widths['G'].max():.3f} in G: a difference in "
        f"M smaller than about {half:.3f} (half the median width) cannot be told from "
        "test-set noise here."
    )
    lines += _paper_line(reference, half)
    stds = summary["M_std"].dropna()
    if len(stds):
        big = [n for n in outside if abs(differences.loc[n, "M"]) > stds.max()]
        also = (
            f"of the rows outside the noise, {', '.join(big)} differ(s) by more"
            if big
            else "no row differs by more"
        )
        lines.append(
            "The intervals cover test-sentence noise only: across seeds M varies by "
            f"up to {stds.max():.3f} (std, {stds.idxmax()}); {also}."
        )
    return "\n".join(f"- {line}" for line in lines)


def seconds_line(records: dict[str, list[dict[str, Any]]]) -> str:
    """The summed stored training time of the distinct runs behind ``records``."""
    runs = {r["run_id"]: r for recs in records.values() for r in recs}
    total = float(np.sum([r["timings"]["total"] for r in runs.values()]))
    return (
        f"{len(runs)} distinct runs; their stored training time sums to {total:.0f} s."
    )


def tau_findings(tau_differences: pd.DataFrame, searched: str, seeds: int) -> str:
    """One Markdown bullet on the tau curve: the points whose M or G differs from the
    searched tau's (row ``searched``) beyond the noise, on ``seeds`` seed(s)."""
    head = f"- On the tau curve ({seeds} seed(s)), against {searched}: "
    if tau_differences.empty:
        return head + "there is no other point."
    outside = [
        f"{n} ({_cell(r, 'M')}; {_cell(r, 'G')})"
        for n, r in tau_differences.iterrows()
        if _is_outside(r, "M") or _is_outside(r, "G")
    ]
    if not outside:
        return head + "every other tau is inside the noise on M and G."
    return (
        f"{head}outside the noise: {'; '.join(outside)}. The search chose tau on dev, "
        "so a better test point is no reason to change it, and its interval covers "
        "test-sentence noise only, not the seed noise above."
    )


def collapsed_line(records: dict[str, list[dict[str, Any]]]) -> str:
    """A Markdown line naming the rows whose runs predict one label for (nearly) every
    test sentence (fewer than 1.5 different labels on average): such a row has the same
    accuracy in every language, so its G is near 0 for a trivial reason and a lower G
    there is no gain in balance. Empty when no row collapsed."""
    labels = labels_predicted(records)
    flat = labels[labels < 1.5]
    if flat.empty:
        return ""
    names = ", ".join(f"{name} ({n:.1f})" for name, n in flat.items())
    return (
        f"- Constant classifiers: {names} predict on average fewer than 1.5 different "
        "labels on the test split, the same one for nearly every sentence; their G is "
        "near 0 because every language gets that label's share, not because they serve "
        "the languages alike. Read their G differences above with this in mind."
    )
