"""Tests for mlcl_core.corpora: SIB-200 (embedded and user copies), Flores-200 and mms loaders."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlcl_core import corpora
from mlcl_core.corpora import CorpusError, load_corpus, load_flores200, load_mms, load_sib200

EMBEDDED = corpora.embedded_sib200_dir()
ALL_FOUR = ("zho_Hans", "bod_Tibt", "mya_Mymr", "eng_Latn")


# ---------------------------------------------------------------------------------------------
# SIB-200, embedded copy


def test_embedded_sib200_sizes_and_labels():
    c = load_sib200(languages=ALL_FOUR)
    assert c.name == "sib200"
    assert c.languages == ALL_FOUR
    assert len(c.labels) == 7
    assert set(c.table["label"]) == set(c.labels)
    assert [len(c.split(s)) for s in corpora.SPLITS] == [701, 99, 204]
    assert list(c.table.columns) == ["id", "label", "split", *ALL_FOUR]
    assert not c.table["id"].duplicated().any()
    for lang in ALL_FOUR:
        assert (c.table[lang].str.len() > 0).all()


@pytest.mark.parametrize("split", corpora.SPLITS)
def test_embedded_sib200_ids_aligned_across_languages(split):
    c = load_sib200(languages=ALL_FOUR)
    for lang in ALL_FOUR:
        raw = pd.read_csv(EMBEDDED / lang / f"{split}.tsv", sep="\t", dtype=str, keep_default_na=False)
        assert list(raw["index_id"]) == list(c.split(split)["id"])
        assert list(raw["category"]) == list(c.split(split)["label"])
        assert list(raw["text"].str.strip()) == list(c.split(split)[lang])


def test_embedded_sib200_quoted_text_is_unquoted():
    c = load_sib200(languages=["eng_Latn"])
    # csv quoting: a doubled quote inside a quoted field is one quote in the text.
    assert not c.table["eng_Latn"].str.contains('""').any()
    assert c.table["eng_Latn"].str.contains('"').any()


def test_label_ids_and_select():
    c = load_sib200()
    ids = c.label_ids("test")
    assert len(ids) == 204 and min(ids) >= 0 and max(ids) < 7
    small = c.select(["bod_Tibt"], subset=5)
    assert small.languages == ("bod_Tibt",)
    assert [len(small.split(s)) for s in corpora.SPLITS] == [5, 5, 5]


def test_any_sib200_language_directory(tmp_path):
    root = tmp_path / "sib"
    root.mkdir()
    shutil.copytree(EMBEDDED / "eng_Latn", root / "fra_Latn")
    shutil.copytree(EMBEDDED / "zho_Hans", root / "zho_Hans")
    # No labels.txt here: labels come from the first language's training file.
    c = load_sib200(root, ["fra_Latn", "zho_Hans"])
    assert c.languages == ("fra_Latn", "zho_Hans")
    assert [len(c.split(s)) for s in corpora.SPLITS] == [701, 99, 204]
    assert len(c.labels) == 7
    assert corpora.available_languages(root) == ["fra_Latn", "zho_Hans"]
    assert load_corpus("sib200", root, ["fra_Latn"], subset=3).table.shape == (9, 4)


# ---------------------------------------------------------------------------------------------
# SIB-200, malformed user copies

HEADER = "index_id\tcategory\ttext\n"


def _write_sib(root: Path, files: dict[str, dict[str, str]]) -> Path:
    """A SIB-200-style corpus from {lang: {split: body lines}} (header added)."""
    for lang, splits in files.items():
        (root / lang).mkdir(parents=True, exist_ok=True)
        for split, body in splits.items():
            (root / lang / f"{split}.tsv").write_text(HEADER + body, encoding="utf-8")
    (root / "labels.txt").write_text("sports\nhealth\n", encoding="utf-8")
    return root


def _good(text_prefix: str) -> dict[str, str]:
    return {
        "train": f"1\tsports\t{text_prefix} one\n2\thealth\t{text_prefix} two\n3\tsports\t{text_prefix} three\n",
        "dev": f"4\thealth\t{text_prefix} four\n",
        "test": f"5\tsports\t{text_prefix} five\n6\thealth\t{text_prefix} six\n",
    }


@pytest.fixture
def sib(tmp_path):
    return _write_sib(tmp_path, {"aaa_Latn": _good("a"), "bbb_Latn": _good("b")})


def test_small_sib_loads(sib):
    c = load_sib200(sib, ["aaa_Latn", "bbb_Latn"])
    assert c.labels == ("sports", "health")  # labels.txt order
    assert list(c.table["id"]) == ["1", "2", "3", "4", "5", "6"]
    assert list(c.table["split"]) == ["train"] * 3 + ["dev"] + ["test"] * 2
    assert c.label_ids("train") == [0, 1, 0]


def _corrupt(sib: Path, lang: str, split: str, body: str) -> Path:
    path = sib / lang / f"{split}.tsv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("body,where,match", [
    ("1\tsports\tb one\n3\thealth\tb two\n2\tsports\tb three\n", ":3:", "id 3 is misaligned"),
    ("1\tsports\tb one\n2\thealth\t  \n3\tsports\tb three\n", ":3:", "empty text"),
    ("1\tsports\tb one\n2\tcooking\tb two\n3\tsports\tb three\n", ":3:", "unknown label 'cooking'"),
    ("1\tsports\tb one\n2\thealth\tb two\textra\n3\tsports\tb three\n", ":3:", "expected 3 tab-separated columns"),
    ("1\tsports\tb one\n2\thealth\n3\tsports\tb three\n", ":3:", "expected 3 tab-separated columns"),
    ("1\tsports\tb one\n1\thealth\tb two\n3\tsports\tb three\n", ":3:", "duplicate index_id 1"),
    ("1\tsports\tb one\n2\tsports\tb two\n3\tsports\tb three\n", ":3:", "label 'sports' for id 2 differs"),
    ("1\tsports\tb one\n2\thealth\tb two\n", ": ", "2 rows but"),
])
def test_sib_bad_rows_name_file_and_line(sib, body, where, match):
    path = _corrupt(sib, "bbb_Latn", "train", body)
    with pytest.raises(CorpusError, match=match) as err:
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])
    assert str(path) + where in str(err.value)


def test_sib_wrong_header(sib):
    path = sib / "bbb_Latn" / "dev.tsv"
    path.write_text("id\tlabel\ttext\n4\thealth\tb four\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="expected header") as err:
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])
    assert f"{path}:1:" in str(err.value)
    path.write_text("index_id\tcategory\ttext\textra\n4\thealth\tb four\tx\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="expected header"):
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])


def test_sib_unknown_language(sib):
    with pytest.raises(CorpusError, match=r"unknown language\(s\) \['ccc_Latn'\]") as err:
        load_sib200(sib, ["aaa_Latn", "ccc_Latn"])
    assert "aaa_Latn" in str(err.value)  # it lists what the corpus has


def test_sib_missing_split_file(sib):
    (sib / "bbb_Latn" / "test.tsv").unlink()
    with pytest.raises(CorpusError, match="file not found") as err:
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])
    assert "bbb_Latn/test.tsv" in str(err.value)


def test_sib_id_in_two_splits(sib):
    for lang, prefix in (("aaa_Latn", "a"), ("bbb_Latn", "b")):
        _corrupt(sib, lang, "dev", f"1\thealth\t{prefix} four\n")
    with pytest.raises(CorpusError, match="id 1 appears in more than one split"):
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])


def test_sib_tolerates_bom_and_trailing_blank_line(sib):
    path = sib / "bbb_Latn" / "test.tsv"
    path.write_text("\ufeff" + HEADER + "5\tsports\tb five\n6\thealth\tb six\n\n", encoding="utf-8")
    c = load_sib200(sib, ["aaa_Latn", "bbb_Latn"])
    assert list(c.split("test")["bbb_Latn"]) == ["b five", "b six"]


def test_sib_bad_arguments(sib, tmp_path):
    with pytest.raises(ValueError, match="languages is empty"):
        load_sib200(sib, [])
    with pytest.raises(CorpusError, match="directory not found"):
        load_sib200(tmp_path / "nowhere", ["aaa_Latn"])
    with pytest.raises(ValueError, match="unknown corpus 'nope'"):
        load_corpus("nope", sib, ["aaa_Latn"])
    with pytest.raises(ValueError, match="needs data_path"):
        load_corpus("flores200", None, ["aaa_Latn"])


# ---------------------------------------------------------------------------------------------
# Flores-200

META_HEADER = "URL\tdomain\ttopic\thas_image\thas_hyperlink\n"


def _write_flores(root: Path, n_dev: int = 10, n_devtest: int = 4,
                  languages: tuple[str, ...] = ("zho_Hans", "bod_Tibt", "mya_Mymr")) -> Path:
    domains = ["wikinews", "wikivoyage", "wikijunior"]
    for part, n in (("dev", n_dev), ("devtest", n_devtest)):
        (root / part).mkdir(parents=True, exist_ok=True)
        rows = [f"https://x/{part}/{i}\t{domains[i % 3]}\ttopic{i % 2}\t0\t0\n" for i in range(n)]
        (root / f"metadata_{part}.tsv").write_text(META_HEADER + "".join(rows), encoding="utf-8")
        for lang in languages:
            lines = [f"{lang} {part} sentence {i + 1}\n" for i in range(n)]
            (root / part / f"{lang}.{part}").write_text("".join(lines), encoding="utf-8")
    return root


def test_flores_loads_with_documented_split(tmp_path):
    root = _write_flores(tmp_path)
    c = load_flores200(root, ["zho_Hans", "mya_Mymr"], dev_every=5)
    assert c.name == "flores200"
    assert c.labels == ("wikijunior", "wikinews", "wikivoyage")
    # dev lines 5 and 10 -> dev; the other 8 dev lines -> train; all of devtest -> test.
    assert [len(c.split(s)) for s in corpora.SPLITS] == [8, 2, 4]
    assert list(c.split("dev")["id"]) == ["dev-5", "dev-10"]
    assert list(c.split("test")["id"]) == ["devtest-1", "devtest-2", "devtest-3", "devtest-4"]
    row = c.split("dev").iloc[0]
    assert row["zho_Hans"] == "zho_Hans dev sentence 5"
    assert row["mya_Mymr"] == "mya_Mymr dev sentence 5"
    assert row["label"] == "wikivoyage"  # metadata row 5 (index 4) -> domains[4 % 3]


def test_flores_topic_labels_and_load_corpus(tmp_path):
    root = _write_flores(tmp_path)
    c = load_flores200(root, ["bod_Tibt"], label_column="topic")
    assert c.labels == ("topic0", "topic1")
    assert [len(c.split(s)) for s in corpora.SPLITS] == [9, 1, 4]  # default dev_every=10
    via_name = load_corpus("flores200", root, ["bod_Tibt", "zho_Hans"], subset=2)
    assert [len(via_name.split(s)) for s in corpora.SPLITS] == [2, 1, 2]


def test_flores_keeps_unicode_line_separators_inside_a_sentence(tmp_path):
    root = _write_flores(tmp_path)
    path = root / "dev" / "zho_Hans.dev"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[2] = "a\u2028b\rc"
    path.write_text("\n".join(lines), encoding="utf-8", newline="")
    c = load_flores200(root, ["zho_Hans", "bod_Tibt"])
    assert c.table.set_index("id").loc["dev-3", "zho_Hans"] == "a\u2028b\rc"


def test_flores_crlf_line_endings(tmp_path):
    root = _write_flores(tmp_path)
    path = root / "devtest" / "bod_Tibt.devtest"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    c = load_flores200(root, ["bod_Tibt"])
    assert c.split("test")["bod_Tibt"].iloc[0] == "bod_Tibt devtest sentence 1"


def test_flores_unknown_language(tmp_path):
    root = _write_flores(tmp_path)
    with pytest.raises(CorpusError, match=r"unknown language\(s\) \['eng_Latn'\]"):
        load_flores200(root, ["zho_Hans", "eng_Latn"])


def test_flores_misaligned_line_counts(tmp_path):
    root = _write_flores(tmp_path)
    path = root / "dev" / "bod_Tibt.dev"
    path.write_text("only\ntwo\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="2 sentences but .*metadata_dev.tsv has 10 rows") as err:
        load_flores200(root, ["zho_Hans", "bod_Tibt"])
    assert str(path) in str(err.value)


def test_flores_empty_text_names_line(tmp_path):
    root = _write_flores(tmp_path)
    path = root / "devtest" / "mya_Mymr.devtest"
    path.write_text("one\n \nthree\nfour\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty text") as err:
        load_flores200(root, ["mya_Mymr"])
    assert f"{path}:2:" in str(err.value)


@pytest.mark.parametrize("content,where,match", [
    ("URL\tdomain\ttopic\n", ":1:", "expected header"),
    (META_HEADER + "u\twikinews\tt\t0\n", ":2:", "expected 5 tab-separated columns"),
    (META_HEADER + "u\twikinews\tt\t0\t0\nu\t\tt\t0\t0\n", ":3:", "empty domain"),
])
def test_flores_bad_metadata(tmp_path, content, where, match):
    root = _write_flores(tmp_path)
    path = root / "metadata_devtest.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=match) as err:
        load_flores200(root, ["zho_Hans"])
    assert str(path) + where in str(err.value)


def test_flores_unknown_label_and_missing_metadata(tmp_path):
    root = _write_flores(tmp_path)
    with pytest.raises(CorpusError, match="unknown label 'wikijunior'") as err:
        load_flores200(root, ["zho_Hans"], labels=["wikinews", "wikivoyage"])
    assert "metadata_dev.tsv:4:" in str(err.value)
    (root / "metadata_dev.tsv").unlink()
    with pytest.raises(CorpusError, match="metadata_dev.tsv: file not found"):
        load_flores200(root, ["zho_Hans"])


def test_flores_bad_arguments(tmp_path):
    root = _write_flores(tmp_path)
    with pytest.raises(ValueError, match="label_column 'genre'"):
        load_flores200(root, ["zho_Hans"], label_column="genre")
    with pytest.raises(ValueError, match="dev_every"):
        load_flores200(root, ["zho_Hans"], dev_every=1)
    with pytest.raises(CorpusError, match="directory not found"):
        load_flores200(tmp_path / "nowhere", ["zho_Hans"])


# ---------------------------------------------------------------------------------------------
# mms


def _mms_frame(n_per_label: int = 10, parallel: bool = False) -> pd.DataFrame:
    rows = []
    for i in range(3 * n_per_label):
        rows.append({"_id": f"z{i}", "text": f"中文 {i}", "label": i % 3, "language": "zh"})
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
        assert sorted(c.split(s)["label"].value_counts().tolist()) == [len(c.split(s)) // 3] * 3
    row = c.table.set_index("id").loc["z4"]
    assert (row["zho_Hans"], row["bod_Tibt"], row["mya_Mymr"]) == ("中文 4", "bo 中文 4", "my 中文 4")
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
    assert list(c.table["eng_Latn"]) == ["english"] and list(c.table["split"]) == ["train"]
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
    assert [call[1:3] for call in calls] == [("zho_Hans", "bod_Tibt"), ("zho_Hans", "mya_Mymr")]
    assert calls[0][3] == [f"z{i}" for i in range(6)]
    assert c.table.set_index("id").loc["z3", "mya_Mymr"] == "mya_Mymr:中文 3"

    def plain(texts, source, target):  # a translate step that takes no ids also works
        return [t + "!" for t in texts]

    assert load_mms(path, ["zho_Hans", "bod_Tibt"], translate=plain).table["bod_Tibt"].str.endswith("!").all()


@pytest.mark.parametrize("translate,match", [
    (lambda texts, s, t: texts[:-1], "returned 5 texts for 6 rows"),
    (lambda texts, s, t: ["x"] * (len(texts) - 1) + [" "], "translation into bod_Tibt is empty"),
])
def test_mms_bad_translation(tmp_path, translate, match):
    path = _write_csv(_mms_frame(n_per_label=2), tmp_path / "mms.csv")
    with pytest.raises(CorpusError, match=match):
        load_mms(path, ["zho_Hans", "bod_Tibt"], translate=translate)


def _bad_csv(tmp_path: Path, edit) -> Path:
    frame = _mms_frame(n_per_label=2)
    edit(frame)
    return _write_csv(frame, tmp_path / "bad.csv")


@pytest.mark.parametrize("edit,where,match", [
    (lambda f: f.__setitem__("text", f["text"].where(f.index != 3, "")), ":5", r"empty text in column 'text' \(id z3\)"),
    (lambda f: f.__setitem__("_id", f["_id"].where(f.index != 4, "z1")), ":6", "duplicate id 'z1'"),
    (lambda f: f.__setitem__("label", f["label"].astype(object).where(f.index != 2, "")), ":4", "empty label"),
    (lambda f: f.__setitem__("split", ["train", "dev", "holdout", "test", "train", "train", "train"]),
     ":4", "unknown split 'holdout'"),
])
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
    with pytest.raises(CorpusError, match=r"no column for language\(s\) \['bod_Tibt'\] and no translate"):
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
    assert list(c.table["zho_Hans"]) == ["z", "x y"] or list(c.table["zho_Hans"]) == ["x y", "z"]
    assert set(c.table["split"]) == {"train"}
    assert sorted(c.table["id"]) == ["0", "1"]  # row numbers when there is no id column


def test_subset_keeps_every_label_of_a_label_sorted_split():
    full = load_sib200()
    sub = full.select(subset=48)
    for split in ("train", "dev", "test"):
        assert len(sub.split(split)) == 48
        assert set(sub.split(split)["label"]) == set(full.split(split)["label"])  # the test file is label-sorted
    assert len(full.select(subset=None)) == len(full)
    assert len(full.select(subset=10_000).split("dev")) == len(full.split("dev"))
    with pytest.raises(ValueError, match="positive"):
        full.select(subset=0)


def test_load_from_config_takes_the_config_subset():
    from mlcl_core.config import make_config

    langs = ["zho_Hans", "bod_Tibt", "mya_Mymr"]
    sub = load_sib200(languages=langs).select(subset=48)
    assert corpora.load_from_config(make_config("tiny", languages=langs, subset=48).data).table.equals(sub.table)
