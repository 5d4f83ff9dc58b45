"""Results store (ids, atomic JSON, skip on rerun, tables) and the resumable TPE search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcl_core import experiments as ex
from mlcl_core.config import TAU_GRID, make_config
from mlcl_core.corpora import load_sib200

LANGS = ("zho_Hans", "bod_Tibt")


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=60)


@pytest.fixture
def cfg():
    return make_config("tiny", languages=LANGS, subset=60)


def test_run_id_depends_on_system_config_and_seed(cfg):
    rid = ex.run_id("combined", cfg, 0)
    assert rid == ex.run_id("combined", cfg, 0)
    assert len({rid, ex.run_id("combined", cfg, 1), ex.run_id("unique", cfg, 0),
                ex.run_id("combined", make_config("tiny", languages=LANGS, subset=61), 0)}) == 4
    # the config's own seed is replaced by the run's seed
    assert ex.run_id("combined", make_config("tiny", languages=LANGS, subset=60, seed=5), 0) == rid


def test_run_system_writes_a_complete_record_and_skips_a_rerun(cfg, corpus, tmp_path, monkeypatch):
    rec = ex.run_system(cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False, n_boot=200)
    path = tmp_path / "t" / f"{rec['run_id']}.json"
    stored = json.loads(path.read_text())
    assert stored["system"] == "tfidf-linear" and stored["seed"] == 0
    assert set(stored["accuracy"]) == set(LANGS) and 0 <= stored["G"] <= 0.5
    assert stored["M"] == pytest.approx(np.mean(list(stored["accuracy"].values())))
    assert stored["ci"]["M"]["low"] <= stored["M"] <= stored["ci"]["M"]["high"]
    assert len(stored["predictions"]) == 2 * len(corpus.split("test"))
    assert {"id", "lang", "y", "y_hat"} == set(stored["predictions"][0])
    assert stored["environment"]["packages"]["torch"] and "git_commit" in stored["environment"]
    assert stored["config"]["data"]["languages"] == list(LANGS) and stored["timings"]["total"] > 0
    assert not list((tmp_path / "t").glob(".*tmp*"))  # no temp files left behind

    def boom(*a, **k):
        raise AssertionError("a stored run must not be rerun")
    monkeypatch.setattr("mlcl_core.baselines.run_baseline", boom)
    assert ex.run_system(cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False) == stored


def test_load_results_and_table_layout(cfg, corpus, tmp_path):
    summary = ex.run_table(cfg, ["tfidf-linear", "tfidf-mlp"], [0, 1], tmp_path, "t", corpus, progress=False,
                           n_boot=200)
    df = ex.load_results(tmp_path, "t")
    assert len(df) == 4 and set(df["system"]) == {"tfidf-linear", "tfidf-mlp"}
    assert {"acc_zho_Hans", "acc_bod_Tibt_low", "G", "M_high", "dev_M"} <= set(df.columns)
    assert list(summary.index) == ["tfidf-linear", "tfidf-mlp"]
    for system, rows in df.groupby("system"):
        assert summary.loc[system, "M"] == pytest.approx(rows["M"].mean())
        assert summary.loc[system, "bod_Tibt"] == pytest.approx(rows["acc_bod_Tibt"].mean())
        assert summary.loc[system, "G_std"] == pytest.approx(rows["G"].std(ddof=1))
        assert summary.loc[system, "M_low"] <= summary.loc[system, "M_high"]
    preds = ex.load_predictions(tmp_path, "t")
    assert len(preds) == 4 * 2 * len(corpus.split("test"))
    table = ex.format_table(summary, LANGS)
    assert list(table.columns) == ["Chinese", "Tibetan", "G", "M"] and "TF-IDF n-gram MLP" in table.index
    assert "±" in table.iloc[0, 0] and "[" in table.iloc[0, 0]
    # The intro page shows the table a chapter kept, with what it was run on.
    assert ex.load_headline(tmp_path) is None
    ex.save_headline(summary, cfg, [0, 1], tmp_path, "t")
    shown, info = ex.load_headline(tmp_path)
    assert shown.equals(table)
    assert (info["profile"], info["seeds"], info["languages"]) == ("tiny", [0, 1], list(cfg.data.languages))


def test_bad_systems_are_rejected_before_work(cfg, tmp_path):
    with pytest.raises(ValueError, match="unknown system"):
        ex.run_table(cfg, ["combined", "bert-xl"], [0], tmp_path)
    with pytest.raises(ValueError, match="seed"):
        ex.run_table(cfg, ["combined"], [], tmp_path)


def _toy_evaluate(calls):
    def evaluate(alpha, beta, tau):
        calls.append((alpha, beta, tau))
        return {"M": 0.8 - (alpha - 0.3) ** 2 - abs(np.log10(tau) + 1.5) * 0.05, "G": 0.1 * beta}
    return evaluate


def test_tpe_search_respects_the_constraint_and_resumes_identically(tmp_path):
    calls: list = []
    best, frame = ex.tpe_search(_toy_evaluate(calls), 6, tmp_path / "full.pkl", seed=3)
    assert len(frame) == 6 and len(calls) == 6
    assert (frame["alpha"] + frame["beta"] < 1).all() and (frame["alpha"] >= 0).all() and (frame["beta"] >= 0).all()
    assert frame["tau"].isin(TAU_GRID).all()
    assert frame["loss"].tolist() == pytest.approx([(1 - m) + g for m, g in zip(frame["M"], frame["G"])])
    assert best["alpha"] == frame.loc[frame["loss"].idxmin(), "alpha"]

    # stopped after 4, resumed to 6: the same trials, and only 2 new evaluations
    first: list = []
    ex.tpe_search(_toy_evaluate(first), 4, tmp_path / "part.pkl", seed=3)
    second: list = []
    _, resumed = ex.tpe_search(_toy_evaluate(second), 6, tmp_path / "part.pkl", seed=3)
    assert len(first) == 4 and len(second) == 2
    assert resumed[["alpha", "beta", "tau"]].values.tolist() == frame[["alpha", "beta", "tau"]].values.tolist()
    assert len(ex.load_trials(tmp_path / "part.pkl")) == 6
    with pytest.raises(ValueError, match="max_evals"):
        ex.tpe_search(_toy_evaluate([]), 0, tmp_path / "x.pkl")


def test_weights_from_sample_never_reach_one():
    for alpha in (0.0, 0.45, 0.9):
        for share in (0.0, 0.5, 1.0):
            a, b, _ = ex.weights_from_sample({"alpha": alpha, "beta_share": share, "tau": 0.07})
            assert a + b <= ex.MAX_CONTRASTIVE_WEIGHT < 1 and b >= 0


def _summary(m_mlcl: float, low: float, high: float):
    import pandas as pd
    rows = []
    for system, m, lo, hi in [("combined", 0.5, 0.45, 0.55), ("mlcl", m_mlcl, low, high)]:
        rows.append({"system": system, "n_seeds": 2, "zho_Hans": m, "bod_Tibt": m, "mya_Mymr": m, "G": 0.05,
                     "G_low": 0.0, "G_high": 0.1, "M": m, "M_low": lo, "M_high": hi, "M_std": 0.01, "G_std": 0.01})
    return pd.DataFrame(rows).set_index("system")


def test_comparison_prose_is_built_from_the_numbers():
    text = ex.comparison_prose(_summary(0.70, 0.66, 0.74), "sib200", ("zho_Hans", "bod_Tibt", "mya_Mymr"))
    assert "M 0.700 vs 0.500 (+0.200)" in text and "outside the noise" in text
    assert "n-gram MLP: M 0.709 (inside MLCL's M interval [0.660, 0.740])" in text
    assert "GPT-4 zero-shot: M 0.518 (outside" in text
    close = ex.comparison_prose(_summary(0.52, 0.47, 0.57), "sib200", ("zho_Hans", "bod_Tibt", "mya_Mymr"))
    assert "overlap, so this difference is inside the noise" in close
    other = ex.comparison_prose(_summary(0.52, 0.47, 0.57), "sib200", ("zho_Hans", "eng_Latn"))
    assert "not comparable" in other
    assert ex.reference_table("mms").index[-1] == ("MLCL paper, Table 3 (mms)", "MLCL")


