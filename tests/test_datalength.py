"""Chapter 5's data lengths: nested training subsets spread over labels, dev and test
untouched, and hours of training speech summed by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from mlcl_core.config import make_config
from mlcl_core.corpora import Corpus
from mlcl_core.datalength import size_configs, size_table, training_hours
from mlcl_core.results import run_id


def _corpus() -> Corpus:
    # labels sorted as in SIB-200's files: 12 "a", 6 "b", 6 "c" training rows
    labels = ["a"] * 12 + ["b"] * 6 + ["c"] * 6 + ["a", "b"] * 3 + ["c"] * 4
    split = ["train"] * 24 + ["dev"] * 6 + ["test"] * 4
    table = pd.DataFrame(
        {
            "id": [str(i) for i in range(34)],
            "label": labels,
            "split": split,
            "xx": [f"x{i}" for i in range(34)],
            "yy": [f"y{i}" for i in range(34)],
        }
    )
    return Corpus("toy", table, ("xx", "yy"), ("a", "b", "c"))


def test_subsets_are_nested_spread_over_labels_and_keep_dev_and_test():
    corpus = _corpus()
    ids = {n: set(corpus.with_train_sentences(n).split("train")["id"]) for n in (4, 12)}
    assert len(ids[4]) == 4 and ids[4] < ids[12]
    small = corpus.with_train_sentences(4).split("train")
    assert set(small["label"]) == {"a", "b", "c"}
    assert corpus.with_train_sentences(12).split("train")["label"].value_counts()[
        "a"
    ] == pytest.approx(6)  # half the rows are "a", in the subset too
    for split in ("dev", "test"):
        pd.testing.assert_frame_equal(
            corpus.with_train_sentences(4).split(split), corpus.split(split)
        )
    assert len(corpus.with_train_sentences(24).split("train")) == 24
    for bad in (0, 25):
        with pytest.raises(ValueError, match="train_sentences"):
            corpus.with_train_sentences(bad)


def test_every_size_has_its_own_run_id_and_bad_sizes_fail():
    cfg = make_config("tiny")
    configs = size_configs(cfg, [20, 5])
    assert list(configs) == [5, 20] and configs[5].data.train_sentences == 5
    assert len({run_id("mlcl", c, 0) for c in [cfg, *configs.values()]}) == 3
    with pytest.raises(ValueError, match="sizes"):
        size_configs(cfg, [5, 5])
    with pytest.raises(ValueError, match="train_sentences"):
        make_config("tiny", train_sentences=0)


def test_hours_sum_the_chosen_training_clips():
    corpus = _corpus()
    rows = [
        {"id": str(i), "split": s, "lang": lang, "seconds": 100.0 * (i + 1) + k}
        for i, s in enumerate(corpus.table["split"])
        for k, lang in enumerate(("xx", "yy"))
    ]
    speech = pd.DataFrame(rows)
    sub = corpus.with_train_sentences(4)
    chosen = [int(i) for i in sub.split("train")["id"]]
    want_xx = sum(100.0 * (i + 1) for i in chosen)
    assert training_hours(sub, speech, ["xx"]) == pytest.approx(want_xx / 3600)
    both = 2 * want_xx + len(chosen)  # yy clips are 1 s longer
    assert training_hours(sub, speech) == pytest.approx(both / 3600)
    table = size_table(corpus, speech, [12, 4])
    assert list(table["sentences"]) == [4, 12]
    assert table["hours"].iloc[0] == pytest.approx(both / 3600)
    with pytest.raises(ValueError, match="lacks"):
        training_hours(sub, speech[speech["id"] != str(chosen[0])])


def test_the_data_config_cuts_the_training_split_when_loading():
    from mlcl_core.corpora import load_from_config

    cfg = make_config("tiny", languages=("zho_Hans",), train_sentences=30)
    corpus = load_from_config(cfg.data)
    full = load_from_config(make_config("tiny", languages=("zho_Hans",)).data)
    assert len(corpus.split("train")) == 30
    assert len(corpus.split("test")) == len(full.split("test"))
    assert set(corpus.split("train")["label"]) == set(full.split("train")["label"])


def test_size_rows_cover_every_kind_and_size_with_distinct_run_ids():
    from mlcl_core.datalength import size_rows

    rows = size_rows(make_config("tiny"), [8, 4], ["simadapter", "metaadapter"])
    assert [r.name for r in rows] == [
        "simadapter, 4 sentences",
        "simadapter, 8 sentences",
        "metaadapter, 4 sentences",
        "metaadapter, 8 sentences",
    ]
    assert rows[1].config.adapter.kind == "simadapter"
    assert rows[1].config.data.train_sentences == 8
    assert len({run_id(r.system, r.config, 0) for r in rows}) == 4
    with pytest.raises(ValueError, match="adapter"):
        size_rows(make_config("tiny"), [4], ["simadapter", "simadapter"])


# ------------------------------------------------------------------ chapter 5's tables
def _run(correct: dict[str, list[bool]], system: str = "mlcl") -> dict:
    """A stored run in miniature: predictions (label 1 right or not) and accuracies."""
    preds = [
        {"id": f"s{i}", "lang": lang, "y": 1, "y_hat": 1 if ok else 0}
        for lang, oks in correct.items()
        for i, ok in enumerate(oks)
    ]
    acc = {lang: sum(oks) / len(oks) for lang, oks in correct.items()}
    return {"system": system, "predictions": preds, "accuracy": acc}


def _curve_records() -> dict[str, list[dict]]:
    """SimAdapter gets better with data, MetaAdapter is perfect at both sizes."""
    n = 40
    worse = {"x": [True] * n, "y": [i % 4 == 0 for i in range(n)]}  # (1, .25)
    better = {"x": [True] * n, "y": [i % 4 != 0 for i in range(n)]}  # (1, .75)
    perfect = {"x": [True] * n, "y": [True] * n}
    from mlcl_core.datalength import row_name

    return {
        row_name("simadapter", 4): [_run(worse), _run(worse)],
        row_name("simadapter", 8): [_run(better), _run(better)],
        row_name("metaadapter", 4): [_run(perfect), _run(perfect)],
        row_name("metaadapter", 8): [_run(perfect), _run(perfect)],
    }


def test_curve_table_has_one_point_per_kind_and_size_with_its_hours():
    from mlcl_core.datalength import curve_table

    sizes = pd.DataFrame({"sentences": [4, 8], "hours": [0.5, 1.25]})
    curve = curve_table(_curve_records(), sizes, ["simadapter", "metaadapter"], 50)
    assert list(curve["adapter"]) == ["simadapter"] * 2 + ["metaadapter"] * 2
    assert list(curve["hours"]) == [0.5, 1.25, 0.5, 1.25]
    sim4 = curve.iloc[0]
    assert sim4["M"] == pytest.approx(0.625) and sim4["n_seeds"] == 2
    assert sim4["G"] == pytest.approx(0.3)  # G(1, .25) = |1 - .25| / (4 * .625)
    assert curve.iloc[2]["G"] == 0 and curve.iloc[2]["M"] == 1
    assert (curve["M_low"] <= curve["M"]).all() and (
        curve["M"] <= curve["M_high"]
    ).all()


def test_size_and_growth_differences_are_paired_with_verdicts():
    from mlcl_core.datalength import growth_differences, size_differences

    recs = _curve_records()
    diffs = size_differences(recs, [8, 4], n_boot=200)
    assert list(diffs.index) == [4, 8]
    assert diffs.loc[4, "M"] == pytest.approx(1 - 0.625)  # meta minus sim
    assert diffs.loc[4, "M_low"] > 0 and "outside the noise" in diffs.loc[4, "verdict"]
    assert diffs.loc[4, "verdict"].startswith(
        "MetaAdapter (4 sentences) minus SimAdapter (4 sentences)"
    )
    growth = growth_differences(recs, [4, 8], ["simadapter", "metaadapter"], 200)
    assert growth.loc["simadapter", "M"] == pytest.approx(0.875 - 0.625)
    assert growth.loc["metaadapter", "M"] == 0
    assert "inside the noise" in growth.loc["metaadapter", "verdict"]
    with pytest.raises(ValueError, match="two sizes"):
        growth_differences(recs, [4], ["simadapter"])


def test_paper_direction_sets_ours_beside_the_papers_signs():
    from mlcl_core.datalength import paper_direction, size_differences
    from mlcl_core.paper_rows import figure34_reference

    diffs = size_differences(_curve_records(), [4, 8], n_boot=100)
    lines = paper_direction(diffs, figure34_reference(), ("simadapter", "metaadapter"))
    assert (
        len(lines) == 2 and "paper 10 h" in lines[0] and "ours 4 sentences" in lines[0]
    )
    # at 10 h the paper's MetaAdapter has higher G (+0.0170); ours is lower: not its way
    assert "G: paper +0.0170, ours -0.3000" in lines[0]
    assert "not the paper's direction" in lines[0]
    # at 60 h the paper's G are equal, and its text gives M +0.0043
    assert "G: paper +0.0000" in lines[1] and "the paper's are equal" in lines[1]
    assert "M: paper +0.0043" in lines[1]


def test_table4_rows_share_the_curve_or_chapter_4_runs():
    from mlcl_core.datalength import check_sizes, size_rows, table4_rows

    cfg = make_config("tiny")
    rows = table4_rows(cfg, 8, ["simadapter", "metaadapter", "none"], 20)
    assert [r.name for r in rows] == ["SimAdapter", "MetaAdapter", "no adapter"]
    curve = {r.name: r for r in size_rows(cfg, [8], ["simadapter", "metaadapter"])}
    assert run_id("mlcl", rows[1].config, 0) == run_id(
        "mlcl", curve["metaadapter, 8 sentences"].config, 0
    )
    assert rows[2].config.adapter.kind == "none"
    # all training sentences: train_sentences unset, i.e. chapter 4's MLCL run
    (full,) = table4_rows(cfg, 20, ["metaadapter"], 20)
    assert run_id("mlcl", full.config, 0) == run_id("mlcl", cfg, 0)
    assert table4_rows(cfg, None, ["metaadapter"], 20)[0].config == cfg
    with pytest.raises(ValueError, match="1..20"):
        table4_rows(cfg, 21, ["metaadapter"], 20)
    with pytest.raises(ValueError, match="unknown adapter"):
        table4_rows(cfg, 8, ["metadapter"], 20)
    assert check_sizes([8, 4], 8) == [4, 8]
    with pytest.raises(ValueError, match="only 8 training sentences"):
        check_sizes([4, 16], 8)
    with pytest.raises(ValueError, match="distinct"):
        check_sizes([4, 4], 8)


def test_labels_predicted_counts_distinct_predictions_per_run():
    from mlcl_core.datalength import labels_predicted

    one = {"x": [True, False, True]}  # predicts 1, 0, 1: two labels
    const = _run({"x": [True] * 3})  # always 1: one label
    got = labels_predicted({"a": [_run(one), const], "b": [const]})
    assert got.to_dict() == {"a": 1.5, "b": 1.0}
