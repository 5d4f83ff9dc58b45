"""The resumable TPE search of alpha, beta, tau: constraint by construction, resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlcl_core import search
from mlcl_core.config import TAU_GRID, make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.outputs import Evaluation, FitResult
from mlcl_core.results import run_id
from mlcl_core.systems import system_config

LANGS = ("zho_Hans", "bod_Tibt")


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


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=20)


def _fake_training(calls):
    """Stands in for systems.train_mlcl: records which splits the trial scores."""

    class Trainer:
        def evaluate(self, loader):
            calls.append(loader)
            ids = ["1", "2"] * len(LANGS)
            lang = [code for code in LANGS for _ in range(2)]
            y = np.zeros(len(ids), dtype=int)
            return Evaluation(ids, lang, y, y, LANGS)

    def train(cfg, corpus, speech_table, checkpoint_dir, progress):
        calls.append("train")
        fit = FitResult(history=[{"epoch": 1}], best_epoch=1, best_score=1.0, seconds=0)
        loaders = {"train": "train-loader", "dev": "dev", "test": "test"}
        return Trainer(), loaders, fit, {"prepare_s": 0.0}

    return train


def test_trials_score_dev_only_and_never_share_a_run_with_the_table(
    corpus, tmp_path, monkeypatch
):
    calls: list = []
    monkeypatch.setattr(search, "train_mlcl", _fake_training(calls))
    monkeypatch.setenv("MLCL_WORKERS", "1")  # the fake lives in this process only
    cfg = make_config("tiny", languages=LANGS, subset=20)
    speech = pd.DataFrame({"path": []})  # given, so nothing is synthesised
    best, frame = search.search_mlcl(
        cfg, 2, tmp_path, 7, [0, 1], corpus, speech, "x-search", progress=False
    )
    assert len(frame) == 2 and calls == ["train", "dev"] * 2  # test never evaluated
    records = [
        json.loads(p.read_text()) for p in (tmp_path / "x-search").glob("*.json")
    ]
    assert len(records) == 2
    for rec in records:
        assert rec["dev"]["M"] == 1.0 and rec["seed"] == 7
        assert not {"predictions", "accuracy", "G", "M", "ci"} & set(rec)
    # the table trains MLCL afresh: no table run id is a trial's, even on seed 7
    table_cfg = replace(cfg, loss=replace(cfg.loss, **best))
    table_ids = {
        run_id("mlcl", system_config("mlcl", table_cfg, s), s) for s in (0, 1, 7)
    }
    assert not table_ids & {rec["run_id"] for rec in records}
    # a current trial is reused, one from other library code is trained again
    search.search_mlcl(cfg, 2, tmp_path, 7, [0, 1], corpus, speech, "x-search")
    assert len(calls) == 4
    path = tmp_path / "x-search" / f"{records[0]['run_id']}.json"
    path.write_text(json.dumps({**records[0], "provenance": {"code_version": "old"}}))
    (tmp_path / "x-search").joinpath(
        next(p.name for p in (tmp_path / "x-search").glob("trials-*.pkl"))
    ).unlink()  # forget the pickled trials, so the search asks for each point again
    search.search_mlcl(cfg, 2, tmp_path, 7, [0, 1], corpus, speech, "x-search")
    assert calls.count("train") == 3


def test_a_search_seed_among_the_table_seeds_is_refused_before_work(tmp_path):
    cfg = make_config("tiny", languages=LANGS)
    with pytest.raises(ValueError, match="search_seed 1 is one of the table's seeds"):
        search.search_mlcl(cfg, 2, tmp_path, 1, [0, 1])
    assert not tmp_path.joinpath("search").exists()


def test_startup_points_are_the_points_the_search_then_evaluates(tmp_path):
    """The random startup trials do not depend on results: drawn ahead (to train side by
    side), they are exactly what the search evaluates, also when it resumes; trials
    after TPE's 20 startup draws depend on results and are not drawn ahead."""
    ahead: list = []
    calls: list = []
    search.tpe_search(
        _toy_evaluate(calls), 4, tmp_path / "t.pkl", seed=5, prefetch=ahead.extend
    )
    assert ahead == calls and len(ahead) == 4
    more: list = []
    resumed: list = []
    search.tpe_search(
        _toy_evaluate(resumed), 6, tmp_path / "t.pkl", seed=5, prefetch=more.extend
    )
    assert more == resumed and len(more) == 2
    trials = search.Trials()
    assert len(search.startup_points(trials, 25, seed=5)) == 20
