"""corpora.sib200 and the Corpus type: the embedded copy, user copies, and their
errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlcl_core import corpora
from mlcl_core.corpora import CorpusError, load_corpus, load_sib200

EMBEDDED = corpora.embedded_sib200_dir()
ALL_FOUR = ("zho_Hans", "bod_Tibt", "mya_Mymr", "eng_Latn")


# ------------------------------------------------------------------------------------
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
        raw = pd.read_csv(
            EMBEDDED / lang / f"{split}.tsv", sep="\t", dtype=str, keep_default_na=False
        )
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


# ------------------------------------------------------------------------------------
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
        "train": f"1\tsports\t{text_prefix} one\n2\thealth\t{text_prefix} "
        f"two\n3\tsports\t{text_prefix} three\n",
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


@pytest.mark.parametrize(
    "body,where,match",
    [
        (
            "1\tsports\tb one\n3\thealth\tb two\n2\tsports\tb three\n",
            ":3:",
            "id 3 is misaligned",
        ),
        ("1\tsports\tb one\n2\thealth\t  \n3\tsports\tb three\n", ":3:", "empty text"),
        (
            "1\tsports\tb one\n2\tcooking\tb two\n3\tsports\tb three\n",
            ":3:",
            "unknown label 'cooking'",
        ),
        (
            "1\tsports\tb one\n2\thealth\tb two\textra\n3\tsports\tb three\n",
            ":3:",
            "expected 3 tab-separated columns",
        ),
        (
            "1\tsports\tb one\n2\thealth\n3\tsports\tb three\n",
            ":3:",
            "expected 3 tab-separated columns",
        ),
        (
            "1\tsports\tb one\n1\thealth\tb two\n3\tsports\tb three\n",
            ":3:",
            "duplicate index_id 1",
        ),
        (
            "1\tsports\tb one\n2\tsports\tb two\n3\tsports\tb three\n",
            ":3:",
            "label 'sports' for id 2 differs",
        ),
        ("1\tsports\tb one\n2\thealth\tb two\n", ": ", "2 rows but"),
    ],
)
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
    path.write_text(
        "index_id\tcategory\ttext\textra\n4\thealth\tb four\tx\n", encoding="utf-8"
    )
    with pytest.raises(CorpusError, match="expected header"):
        load_sib200(sib, ["aaa_Latn", "bbb_Latn"])


def test_sib_unknown_language(sib):
    with pytest.raises(
        CorpusError, match=r"unknown language\(s\) \['ccc_Latn'\]"
    ) as err:
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
    path.write_text(
        "\ufeff" + HEADER + "5\tsports\tb five\n6\thealth\tb six\n\n", encoding="utf-8"
    )
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


def test_subset_keeps_every_label_of_a_label_sorted_split():
    full = load_sib200()
    sub = full.select(subset=48)
    for split in ("train", "dev", "test"):
        assert len(sub.split(split)) == 48
        # the test file is label-sorted
        assert set(sub.split(split)["label"]) == set(full.split(split)["label"])
    assert len(full.select(subset=None)) == len(full)
    assert len(full.select(subset=10_000).split("dev")) == len(full.split("dev"))
    with pytest.raises(ValueError, match="positive"):
        full.select(subset=0)


def test_load_from_config_takes_the_config_subset():
    from mlcl_core.config import make_config

    langs = ["zho_Hans", "bod_Tibt", "mya_Mymr"]
    sub = load_sib200(languages=langs).select(subset=48)
    assert corpora.load_from_config(
        make_config("tiny", languages=langs, subset=48).data
    ).table.equals(sub.table)


def test_one_registry_matches_the_config_and_names_languages():
    from mlcl_core.config import CORPORA

    assert tuple(corpora.LOADERS) == CORPORA and corpora.EMBEDDED == ("sib200",)
    with pytest.raises(ValueError, match="needs data_path"):
        load_corpus("flores200")
    assert corpora.language_name("bod_Tibt") == "Tibetan"
    assert corpora.language_name("khm_Khmr") == "khm_Khmr"
