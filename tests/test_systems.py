"""Systems: one registry; a run is stored once and skipped on rerun; Table 2 from the
store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcl_core import results, runtime, systems, tables
from mlcl_core.config import make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.provenance import provenance_of

LANGS = ("zho_Hans", "bod_Tibt")


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=60)


@pytest.fixture
def cfg():
    return make_config("tiny", languages=LANGS, subset=60)


def test_run_system_writes_a_complete_record_and_skips_a_rerun(
    cfg, corpus, tmp_path, monkeypatch
):
    rec = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False, n_boot=200
    )
    path = tmp_path / "t" / f"{rec['run_id']}.json"
    stored = json.loads(path.read_text())
    assert stored["system"] == "tfidf-linear" and stored["seed"] == 0
    assert set(stored["accuracy"]) == set(LANGS) and 0 <= stored["G"] <= 0.5
    assert stored["M"] == pytest.approx(np.mean(list(stored["accuracy"].values())))
    assert stored["ci"]["M"]["low"] <= stored["M"] <= stored["ci"]["M"]["high"]
    assert len(stored["predictions"]) == 2 * len(corpus.split("test"))
    assert {"id", "lang", "y", "y_hat"} == set(stored["predictions"][0])
    assert (
        stored["environment"]["packages"]["torch"]
        and "git_commit" in stored["environment"]
    )
    assert (
        stored["config"]["data"]["languages"] == list(LANGS)
        and stored["timings"]["total"] > 0
    )
    assert not list((tmp_path / "t").glob(".*tmp*"))  # no temp files left behind

    def boom(*a, **k):
        raise AssertionError("a stored run must not be rerun")

    monkeypatch.setitem(systems.SYSTEMS, "tfidf-linear", systems.System(boom))
    assert (
        systems.run_system(
            cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False
        )
        == stored
    )


def test_load_results_and_table_layout(cfg, corpus, tmp_path):
    summary = systems.run_table(
        cfg,
        ["tfidf-linear", "tfidf-mlp"],
        [0, 1],
        tmp_path,
        "t",
        corpus,
        progress=False,
        n_boot=200,
    )
    df = results.load_results(tmp_path, "t")
    assert len(df) == 4 and set(df["system"]) == {"tfidf-linear", "tfidf-mlp"}
    assert {"acc_zho_Hans", "acc_bod_Tibt_low", "G", "M_high", "dev_M"} <= set(
        df.columns
    )
    assert list(summary.index) == ["tfidf-linear", "tfidf-mlp"]
    for system, rows in df.groupby("system"):
        assert summary.loc[system, "M"] == pytest.approx(rows["M"].mean())
        assert summary.loc[system, "bod_Tibt"] == pytest.approx(
            rows["acc_bod_Tibt"].mean()
        )
        assert summary.loc[system, "G_std"] == pytest.approx(rows["G"].std(ddof=1))
        assert summary.loc[system, "M_low"] <= summary.loc[system, "M_high"]
    preds = results.load_predictions(tmp_path, "t")
    assert len(preds) == 4 * 2 * len(corpus.split("test"))
    table = tables.format_table(summary, LANGS)
    assert (
        list(table.columns) == ["Chinese", "Tibetan", "G", "M"]
        and "TF-IDF n-gram MLP" in table.index
    )
    assert "±" in table.iloc[0, 0] and "[" in table.iloc[0, 0]
    # The intro page shows the table a chapter kept, with what it was run on.
    assert results.load_headline(tmp_path) is None
    results.save_headline(summary, cfg, [0, 1], tmp_path, "t")
    shown, info = results.load_headline(tmp_path)
    assert shown.equals(table)
    assert (info["profile"], info["seeds"], info["languages"]) == (
        "tiny",
        [0, 1],
        list(cfg.data.languages),
    )
    # and on which device ("auto" is resolved to what ran)
    assert info["device"] == runtime.device_name(cfg.train.device)
    assert runtime.device_name("cpu") == "cpu"


def test_bad_systems_are_rejected_before_work(cfg, tmp_path):
    with pytest.raises(ValueError, match="unknown system"):
        systems.run_table(cfg, ["combined", "bert-xl"], [0], tmp_path)
    with pytest.raises(ValueError, match="seed"):
        systems.run_table(cfg, ["combined"], [], tmp_path)


def test_one_registry_names_every_system():
    assert list(systems.SYSTEMS) == [
        "tfidf-linear",
        "tfidf-mlp",
        "unique",
        "combined",
        "combined+fgm",
        "combined+pgd",
        "mlcl",
        "text+lcl",
    ]
    assert set(tables.SYSTEM_NAMES) == set(systems.SYSTEMS)
    assert [s for s, spec in systems.SYSTEMS.items() if spec.speech] == ["mlcl"]
    with pytest.raises(ValueError, match="unknown system"):
        systems.check_systems(["mbert-xl"])


def test_the_stored_config_says_which_ngram_classifier_ran(cfg, corpus, tmp_path):
    rec = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False, n_boot=50
    )
    assert rec["config"]["ngram"]["classifier"] == "linear"
    assert rec["config"]["train"]["seed"] == 0


@pytest.mark.parametrize(
    "stale, why",
    [
        ({"code_version": "0123456789ab"}, "written by library version 0123456789ab"),
        ({"corpus": "another-one"}, "made on corpus another-one"),
    ],
)
def test_a_record_from_other_code_or_another_corpus_is_rerun(
    cfg, corpus, tmp_path, capsys, stale, why
):
    rec = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False, n_boot=50
    )
    assert rec["provenance"] == provenance_of(corpus)
    path = tmp_path / "t" / f"{rec['run_id']}.json"
    old = {**rec, "provenance": {**rec["provenance"], **stale}, "created": "then"}
    path.write_text(json.dumps(old))
    capsys.readouterr()
    again = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "t", corpus, progress=False, n_boot=50
    )
    line = capsys.readouterr().out.strip()
    # one line: which run and why
    assert "\n" not in line
    assert line.startswith(f"rerunning t/{rec['run_id']} (tfidf-linear, seed 0): {why}")
    stored = json.loads(path.read_text())
    assert stored["created"] != "then" and stored["provenance"] == rec["provenance"]
    assert again["provenance"] == rec["provenance"]


def test_a_run_stored_by_another_experiment_is_reused_and_copied(
    cfg, corpus, tmp_path, capsys
):
    rec = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "chapter4", corpus, progress=False, n_boot=50
    )
    capsys.readouterr()
    again = systems.run_system(
        cfg, "tfidf-linear", 0, tmp_path, "chapter6", corpus, progress=False, n_boot=50
    )
    line = capsys.readouterr().out.strip()
    assert again["created"] == rec["created"]  # not trained again
    assert line == (
        f"chapter6/{rec['run_id']} (tfidf-linear, seed 0): "
        "reusing the same run from experiment chapter4"
    )
    copy = json.loads((tmp_path / "chapter6" / f"{rec['run_id']}.json").read_text())
    assert copy["run_id"] == rec["run_id"] and copy["created"] == rec["created"]
    # another seed is another run: trained, not taken from chapter4
    other = systems.run_system(
        cfg, "tfidf-linear", 1, tmp_path, "chapter6", corpus, progress=False, n_boot=50
    )
    assert other["run_id"] != rec["run_id"]
    assert "reusing" not in capsys.readouterr().out


def test_run_many_trains_missing_runs_side_by_side_as_one_at_a_time(
    cfg, corpus, tmp_path, monkeypatch, capsys
):
    jobs = [(cfg, "tfidf-linear", seed, corpus, None) for seed in (0, 1, 0)]
    monkeypatch.setenv("MLCL_WORKERS", "2")
    side = systems.run_many(jobs, tmp_path / "a", "t", progress=False, n_boot=50)
    assert "training 2 runs in 2 processes side by side" in capsys.readouterr().out
    monkeypatch.setenv("MLCL_WORKERS", "1")
    alone = systems.run_many(jobs, tmp_path / "b", "t", progress=False, n_boot=50)
    assert "processes" not in capsys.readouterr().out
    assert [r["seed"] for r in side] == [0, 1, 0]  # the jobs' order
    for a, b in zip(side, alone, strict=True):
        assert a["run_id"] == b["run_id"] and a["predictions"] == b["predictions"]
        assert (a["G"], a["M"]) == (b["G"], b["M"])
    # stored now: nothing trains again
    again = systems.run_many(jobs, tmp_path / "a", "t", progress=False, n_boot=50)
    assert [r["created"] for r in again] == [r["created"] for r in side]


def test_run_workers_reads_the_device_and_mlcl_workers(monkeypatch):
    from mlcl_core.runtime import run_workers

    monkeypatch.setenv("MLCL_WORKERS", "3")
    assert run_workers("cpu", 10) == 3 and run_workers("cpu", 2) == 2
    assert run_workers("cpu", 1) == 1
    monkeypatch.setenv("MLCL_WORKERS", "two")
    with pytest.raises(ValueError, match="MLCL_WORKERS"):
        run_workers("cpu", 4)
    monkeypatch.delenv("MLCL_WORKERS")
    assert 1 <= run_workers("cpu", 4) <= 4
