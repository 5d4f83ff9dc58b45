"""corpora.flores: the official Flores-200 layout as a labelled corpus, and its
errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcl_core import corpora
from mlcl_core.corpora import CorpusError, load_corpus, load_flores200

# ------------------------------------------------------------------------------------
# Flores-200

META_HEADER = "URL\tdomain\ttopic\thas_image\thas_hyperlink\n"


def _write_flores(
    root: Path,
    n_dev: int = 10,
    n_devtest: int = 4,
    languages: tuple[str, ...] = ("zho_Hans", "bod_Tibt", "mya_Mymr"),
) -> Path:
    domains = ["wikinews", "wikivoyage", "wikijunior"]
    for part, n in (("dev", n_dev), ("devtest", n_devtest)):
        (root / part).mkdir(parents=True, exist_ok=True)
        rows = [
            f"https://x/{part}/{i}\t{domains[i % 3]}\ttopic{i % 2}\t0\t0\n"
            for i in range(n)
        ]
        (root / f"metadata_{part}.tsv").write_text(
            META_HEADER + "".join(rows), encoding="utf-8"
        )
        for lang in languages:
            lines = [f"{lang} {part} sentence {i + 1}\n" for i in range(n)]
            (root / part / f"{lang}.{part}").write_text(
                "".join(lines), encoding="utf-8"
            )
    return root


def test_flores_loads_with_documented_split(tmp_path):
    root = _write_flores(tmp_path)
    c = load_flores200(root, ["zho_Hans", "mya_Mymr"], dev_every=5)
    assert c.name == "flores200"
    assert c.labels == ("wikijunior", "wikinews", "wikivoyage")
    # dev lines 5 and 10 -> dev; the other 8 dev lines -> train; all of devtest -> test.
    assert [len(c.split(s)) for s in corpora.SPLITS] == [8, 2, 4]
    assert list(c.split("dev")["id"]) == ["dev-5", "dev-10"]
    assert list(c.split("test")["id"]) == [
        "devtest-1",
        "devtest-2",
        "devtest-3",
        "devtest-4",
    ]
    row = c.split("dev").iloc[0]
    assert row["zho_Hans"] == "zho_Hans dev sentence 5"
    assert row["mya_Mymr"] == "mya_Mymr dev sentence 5"
    assert row["label"] == "wikivoyage"  # metadata row 5 (index 4) -> domains[4 % 3]


def test_flores_topic_labels_and_load_corpus(tmp_path):
    root = _write_flores(tmp_path)
    c = load_flores200(root, ["bod_Tibt"], label_column="topic")
    assert c.labels == ("topic0", "topic1")
    # default dev_every=10
    assert [len(c.split(s)) for s in corpora.SPLITS] == [
        9,
        1,
        4,
    ]
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
    with pytest.raises(
        CorpusError, match="2 sentences but .*metadata_dev.tsv has 10 rows"
    ) as err:
        load_flores200(root, ["zho_Hans", "bod_Tibt"])
    assert str(path) in str(err.value)


def test_flores_empty_text_names_line(tmp_path):
    root = _write_flores(tmp_path)
    path = root / "devtest" / "mya_Mymr.devtest"
    path.write_text("one\n \nthree\nfour\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty text") as err:
        load_flores200(root, ["mya_Mymr"])
    assert f"{path}:2:" in str(err.value)


@pytest.mark.parametrize(
    "content,where,match",
    [
        ("URL\tdomain\ttopic\n", ":1:", "expected header"),
        (
            META_HEADER + "u\twikinews\tt\t0\n",
            ":2:",
            "expected 5 tab-separated columns",
        ),
        (META_HEADER + "u\twikinews\tt\t0\t0\nu\t\tt\t0\t0\n", ":3:", "empty domain"),
    ],
)
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
