"""The resumable TPE search of alpha, beta, tau: constraint by construction, resumes."""

from __future__ import annotations

import numpy as np
import pytest

from mlcl_core import search
from mlcl_core.config import TAU_GRID


def _toy_evaluate(calls):
    def evaluate(alpha, beta, tau):
        calls.append((alpha, beta, tau))
        return {
            "M": 0.8 - (alpha - 0.3) ** 2 - abs(np.log10(tau) + 1.5) * 0.05,
            "G": 0.1 * beta,
        }

    return evaluate


def test_tpe_search_respects_the_constraint_and_resumes_identically(tmp_path):
    calls: list = []
    best, frame = search.tpe_search(
        _toy_evaluate(calls), 6, tmp_path / "full.pkl", seed=3
    )
    assert len(frame) == 6 and len(calls) == 6
    assert (
        (frame["alpha"] + frame["beta"] < 1).all()
        and (frame["alpha"] >= 0).all()
        and (frame["beta"] >= 0).all()
    )
    assert frame["tau"].isin(TAU_GRID).all()
    assert frame["loss"].tolist() == pytest.approx(
        [(1 - m) + g for m, g in zip(frame["M"], frame["G"])]
    )
    assert best["alpha"] == frame.loc[frame["loss"].idxmin(), "alpha"]

    # stopped after 4, resumed to 6: the same trials, and only 2 new evaluations
    first: list = []
    search.tpe_search(_toy_evaluate(first), 4, tmp_path / "part.pkl", seed=3)
    second: list = []
    _, resumed = search.tpe_search(
        _toy_evaluate(second), 6, tmp_path / "part.pkl", seed=3
    )
    assert len(first) == 4 and len(second) == 2
    assert (
        resumed[["alpha", "beta", "tau"]].values.tolist()
        == frame[["alpha", "beta", "tau"]].values.tolist()
    )
    assert len(search.load_trials(tmp_path / "part.pkl")) == 6
    with pytest.raises(ValueError, match="max_evals"):
        search.tpe_search(_toy_evaluate([]), 0, tmp_path / "x.pkl")


def test_weights_from_sample_never_reach_one():
    for alpha in (0.0, 0.45, 0.9):
        for share in (0.0, 0.5, 1.0):
            a, b, _ = search.weights_from_sample(
                {"alpha": alpha, "beta_share": share, "tau": 0.07}
            )
            assert a + b <= search.MAX_CONTRASTIVE_WEIGHT < 1 and b >= 0
