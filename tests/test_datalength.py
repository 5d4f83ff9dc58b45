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
