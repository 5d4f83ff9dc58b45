"""corpora.mms: mms-style tables, parallel columns or a translate step, and their
errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from mlcl_core import corpora
from mlcl_core.corpora import CorpusError, load_corpus, load_mms

# ------------------------------------------------------------------------------------
# mms


def _mms_frame(n_per_label: int = 10, parallel: bool = False) -> pd.DataFrame:
    rows = []
    for i in range(3 * n_per_label):
        rows.append(
            {"_id": f"z{i}", "text": f"中文 {i}", "label": i % 3, "language": "zh"}
        )
    rows += [{"_id": "e0", "text": "english", "label": 1, "language": "en"}]
    frame = pd.DataFrame(rows)
    if parallel:
        frame["bod_Tibt"] = [f"bo {t}" for t in frame["text"]]
        frame["mya_Mymr"] = [f"my {t}" for t in frame["text"]]
    return frame


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_mms_parallel_columns_and_stratified_split(tmp_path):
    path = _write_csv(_mms_frame(parallel=True), tmp_path / "mms.csv")
    c = load_mms(path, ["zho_Hans", "bod_Tibt", "mya_Mymr"])
    assert c.name == "mms"
    assert c.labels == ("0", "1", "2")
    assert len(c) == 30  # the English row is not part of the Chinese corpus
    # 10 rows per label: 8 train, 1 dev, 1 test each.
    assert [len(c.split(s)) for s in corpora.SPLITS] == [24, 3, 3]
    for s in corpora.SPLITS:
        assert (
            sorted(c.split(s)["label"].value_counts().tolist())
            == [len(c.split(s)) // 3] * 3
        )
    row = c.table.set_index("id").loc["z4"]
    assert (row["zho_Hans"], row["bod_Tibt"], row["mya_Mymr"]) == (
        "中文 4",
        "bo 中文 4",
        "my 中文 4",
    )
    assert row["label"] == "1"
    again = load_mms(path, ["zho_Hans", "bod_Tibt", "mya_Mymr"])
    pd.testing.assert_frame_equal(c.table, again.table)  # deterministic
    other = load_mms(path, ["zho_Hans", "bod_Tibt", "mya_Mymr"], split_seed=1)
    assert list(other.split("test")["id"]) != list(c.split("test")["id"])
    via_name = load_corpus("mms", path, ["zho_Hans", "mya_Mymr"])
    assert via_name.languages == ("zho_Hans", "mya_Mymr")


def test_mms_parquet_split_column_and_source_language(tmp_path):
    frame = _mms_frame(n_per_label=2, parallel=True)
    frame["split"] = ["train", "validation", "test", "train", "train", "dev", "train"]
    path = tmp_path / "mms.parquet"
    frame.to_parquet(path)
    c = load_mms(path, ["eng_Latn"], source_language="en")
    assert list(c.table["eng_Latn"]) == ["english"] and list(c.table["split"]) == [
        "train"
    ]
    c = load_mms(path, ["zho_Hans", "bod_Tibt"])
    assert list(c.split("dev")["id"]) == ["z1", "z5"]
    assert list(c.split("test")["id"]) == ["z2"]


def test_mms_translate_step(tmp_path):
    path = _write_csv(_mms_frame(n_per_label=2), tmp_path / "mms.csv")
    calls = []

    def translate(texts, source, target, ids=None):
        calls.append((list(texts), source, target, list(ids)))
        return [f"{target}:{t}" for t in texts]

    c = load_mms(path, ["zho_Hans", "bod_Tibt", "mya_Mymr"], translate=translate)
    assert [call[1:3] for call in calls] == [
        ("zho_Hans", "bod_Tibt"),
        ("zho_Hans", "mya_Mymr"),
    ]
    assert calls[0][3] == [f"z{i}" for i in range(6)]
    assert c.table.set_index("id").loc["z3", "mya_Mymr"] == "mya_Mymr:中文 3"

    def plain(texts, source, target):  # a translate step that takes no ids also works
        return [t + "!" for t in texts]

    assert (
        load_mms(path, ["zho_Hans", "bod_Tibt"], translate=plain)
        .table["bod_Tibt"]
        .str.endswith("!")
        .all()
    )


@pytest.mark.parametrize(
    "translate,match",
    [
        (lambda texts, s, t: texts[:-1], "returned 5 texts for 6 rows"),
        (
            lambda texts, s, t: ["x"] * (len(texts) - 1) + [" "],
            "translation into bod_Tibt is empty",
        ),
    ],
)
def test_mms_bad_translation(tmp_path, translate, match):
    path = _write_csv(_mms_frame(n_per_label=2), tmp_path / "mms.csv")
    with pytest.raises(CorpusError, match=match):
        load_mms(path, ["zho_Hans", "bod_Tibt"], translate=translate)


def _bad_csv(tmp_path: Path, edit) -> Path:
    frame = _mms_frame(n_per_label=2)
    edit(frame)
    return _write_csv(frame, tmp_path / "bad.csv")


@pytest.mark.parametrize(
    "edit,where,match",
    [
        (
            lambda f: f.__setitem__("text", f["text"].where(f.index != 3, "")),
            ":5",
            r"empty text in column 'text' \(id z3\)",
        ),
        (
            lambda f: f.__setitem__("_id", f["_id"].where(f.index != 4, "z1")),
            ":6",
            "duplicate id 'z1'",
        ),
        (
            lambda f: f.__setitem__(
                "label", f["label"].astype(object).where(f.index != 2, "")
            ),
            ":4",
            "empty label",
        ),
        (
            lambda f: f.__setitem__(
                "split", ["train", "dev", "holdout", "test", "train", "train", "train"]
            ),
            ":4",
            "unknown split 'holdout'",
        ),
    ],
)
def test_mms_bad_rows_name_file_and_line(tmp_path, edit, where, match):
    path = _bad_csv(tmp_path, edit)
    with pytest.raises(CorpusError, match=match) as err:
        load_mms(path, ["zho_Hans"])
    assert str(path) + where in str(err.value)


def test_mms_unknown_label_and_parquet_rows(tmp_path):
    path = tmp_path / "mms.parquet"
    _mms_frame(n_per_label=2).to_parquet(path)
    with pytest.raises(CorpusError, match="unknown label '2'") as err:
        load_mms(path, ["zho_Hans"], labels=["0", "1"])
    assert f"{path}: row 2" in str(err.value)


def test_mms_bad_files_and_columns(tmp_path):
    path = _write_csv(_mms_frame(n_per_label=2), tmp_path / "mms.csv")
    with pytest.raises(
        CorpusError,
        match=r"no column for language\(s\) \['bod_Tibt'\] and no translate",
    ):
        load_mms(path, ["zho_Hans", "bod_Tibt"])
    with pytest.raises(CorpusError, match=r"missing column\(s\) \['sentiment'\]"):
        load_mms(path, ["zho_Hans"], label_column="sentiment")
    with pytest.raises(CorpusError, match="unknown language code 'bod_Tibt'") as err:
        load_mms(path, ["bod_Tibt"])
    assert "['en', 'zh']" in str(err.value)
    with pytest.raises(CorpusError, match="file not found"):
        load_mms(tmp_path / "none.csv", ["zho_Hans"])
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(CorpusError, match="unknown table format '.xlsx'"):
        load_mms(tmp_path / "x.xlsx", ["zho_Hans"])
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(CorpusError, match="cannot read parquet"):
        load_mms(tmp_path / "broken.parquet", ["zho_Hans"])
    with pytest.raises(ValueError, match="split_ratios"):
        load_mms(path, ["zho_Hans"], split_ratios=(0.5, 0.2, 0.2))


def test_mms_wrong_number_of_columns(tmp_path):
    path = tmp_path / "mms.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows([["text", "label", "language"], ["a", "0", "zh"], ["b", "1"]])
    with pytest.raises(CorpusError, match="expected 3 columns, got 2") as err:
        load_mms(path, ["zho_Hans"])
    assert f"{path}:3:" in str(err.value)


def test_mms_tsv_without_language_column(tmp_path):
    path = tmp_path / "mms.tsv"
    path.write_text("text\tlabel\nx y\tpos\nz\tneg\n", encoding="utf-8")
    c = load_mms(path, ["zho_Hans"], language_column=None, split_ratios=(1.0, 0.0, 0.0))
    assert list(c.table["zho_Hans"]) == ["z", "x y"] or list(c.table["zho_Hans"]) == [
        "x y",
        "z",
    ]
    assert set(c.table["split"]) == {"train"}
    assert sorted(c.table["id"]) == ["0", "1"]  # row numbers when there is no id column
