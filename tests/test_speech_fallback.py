"""Stand-in voices for languages with no voice of their own: opt-in, named, kept apart.

The corpus is made here, in SIB-200's layout, with invented sentences in the scripts of
the four Sino-Tibetan languages of SIB-200 that espeak has no voice for."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcl_core.config import make_config
from mlcl_core.corpora import load_corpus
from mlcl_core.speech import NoVoiceError, corpus_audio, get_backend
from mlcl_core.speech.cache import cache_key
from mlcl_core.speech.fallback import (
    SCRIPT_STAND_INS,
    parse_stand_ins,
    resolve_stand_ins,
    stand_ins,
)

# Invented sentences (letters of each script, no real text of these languages).
SENTENCES = {
    "dzo_Tibt": ["ཀ་བ་ལ་མ་ས་ཏ།", "ང་ད་པ་ཚ་རི།", "ཁ་ག་ཞ་ཡ་ནོ།", "ཤ་ལུ་བོ་ཙ་མེ།"],
    "kac_Latn": [
        "Kaba lama sata.",
        "Ngai dapa tsari.",
        "Kaga zhaya no.",
        "Shalu bo tsame.",
    ],
    "lus_Latn": [
        "Kaba lama sata.",
        "Ngaw dapa chari.",
        "Kaga zawa no.",
        "Salu bo tame.",
    ],
    "mni_Beng": ["কাবা লামা সাতা।", "নাদা পাচা রি।", "খাগা জায়া নো।", "শালু বো তামে।"],
}
LANGS = tuple(SENTENCES)


@pytest.fixture
def corpus(tmp_path: Path):
    root = tmp_path / "sib"
    for lang, texts in SENTENCES.items():
        (root / lang).mkdir(parents=True)
        rows = [(i, "sports" if i % 2 else "health", t) for i, t in enumerate(texts)]
        for split, part in (
            ("train", rows[:2]),
            ("dev", rows[2:3]),
            ("test", rows[3:]),
        ):
            body = "".join(f"{i}\t{label}\t{text}\n" for i, label, text in part)
            (root / lang / f"{split}.tsv").write_text(
                "index_id\tcategory\ttext\n" + body, encoding="utf-8"
            )
    return load_corpus("sib200", root, LANGS)


def _speech(tmp_path: Path, **kw):
    return make_config(
        "tiny", cache_dir=str(tmp_path / "speech"), workers=1, **kw
    ).speech


def test_without_the_opt_in_a_language_without_voice_stops_clearly(corpus, tmp_path):
    cfg = _speech(tmp_path)
    with pytest.raises(
        NoVoiceError,
        match=r"no voice for language 'dzo_Tibt'.*fallback_voices=True reads "
        r"it as bod_Tibt",
    ):
        corpus_audio(corpus, cfg, progress=False)
    for lang in LANGS:
        with pytest.raises(NoVoiceError, match=lang):
            stand_ins(cfg, [lang])
    with pytest.raises(ValueError, match="not in corpus"):  # not: no voice for it
        corpus_audio(corpus, cfg, languages=["mni_Mtei"], progress=False)
    # Stopped before any synthesis; languages with their own voice need no stand-in.
    assert list((tmp_path / "speech").rglob("*.flac")) == []
    assert stand_ins(cfg, ["zho_Hans", "bod_Tibt"]) == {}


def test_the_opt_in_reads_each_language_with_its_scripts_voice(corpus, tmp_path):
    cfg = _speech(tmp_path, fallback_voices=True)
    chosen = stand_ins(cfg, LANGS)
    assert {k: (v.reads_as, v.voice) for k, v in chosen.items()} == {
        "dzo_Tibt": ("bod_Tibt", "cmn+bophono"),
        "kac_Latn": ("ind_Latn", "id"),
        "lus_Latn": ("ind_Latn", "id"),
        "mni_Beng": ("ben_Beng", "bn"),
    }
    line = (
        "dzo_Tibt is read by the bod_Tibt voice (cmn+bophono; voice of the Tibt script)"
    )
    assert str(chosen["dzo_Tibt"]) == line
    table = corpus_audio(corpus, cfg, progress=False)
    assert len(table) == 16 and set(table["lang"]) == set(LANGS)
    assert (table["seconds"] > 0.3).all()
    assert set(table.loc[table["lang"] == "dzo_Tibt", "text_id"]) >= {
        "sib200/train/0/dzo_Tibt"
    }


def test_the_cache_key_holds_the_stand_in_voice(corpus, tmp_path):
    auto = corpus_audio(
        corpus, _speech(tmp_path, fallback_voices=True), progress=False
    ).set_index(["lang", "id"])
    named = corpus_audio(
        corpus,
        _speech(tmp_path, fallback_voices=True, stand_ins=("kac_Latn=eng_Latn",)),
        progress=False,
    ).set_index(["lang", "id"])
    backend = get_backend("espeak")
    text = SENTENCES["dzo_Tibt"][0]
    assert Path(auto.loc[("dzo_Tibt", "0"), "path"]).stem == cache_key(
        "espeak", "cmn+bophono", backend.version, text
    )
    # The same Jingpho sentence read by Indonesian and by English: two clips, not one.
    assert auto.loc[("kac_Latn", "0"), "path"] != named.loc[("kac_Latn", "0"), "path"]
    assert auto.loc[("lus_Latn", "0"), "path"] == named.loc[("lus_Latn", "0"), "path"]
    # The same text with the same stand-in voice is the same audio, so it is one clip.
    assert auto.loc[("kac_Latn", "0"), "path"] == auto.loc[("lus_Latn", "0"), "path"]


def test_a_named_stand_in_is_an_opt_in_for_that_language_alone(tmp_path):
    cfg = _speech(tmp_path, stand_ins=("kac_Latn=eng_Latn", "mni_Beng=bpy"))
    chosen = stand_ins(cfg, ["kac_Latn", "mni_Beng", "zho_Hans"])
    assert {k: (v.reads_as, v.voice, v.why) for k, v in chosen.items()} == {
        "kac_Latn": ("eng_Latn", "en", "named in stand_ins"),
        "mni_Beng": ("bpy", "bpy", "named in stand_ins"),
    }
    with pytest.raises(NoVoiceError, match="lus_Latn"):
        stand_ins(cfg, ["kac_Latn", "lus_Latn"])


def test_bad_stand_ins_are_refused(tmp_path):
    with pytest.raises(ValueError, match="stand_ins must be 'language=stand-in'"):
        make_config("tiny", stand_ins=("kac_Latn",))
    with pytest.raises(ValueError, match="malformed language code"):
        parse_stand_ins(["kac_Latn=English"])
    with pytest.raises(ValueError, match="two stand-ins for kac_Latn"):
        parse_stand_ins(["kac_Latn=eng_Latn", "kac_Latn=ind_Latn"])
    backend = get_backend("espeak")
    with pytest.raises(NoVoiceError, match="has no espeak voice either"):
        resolve_stand_ins(["kac_Latn"], backend, overrides={"kac_Latn": "qqq_Latn"})
    with pytest.raises(NoVoiceError, match="no stand-in is known for its script Zzzz"):
        resolve_stand_ins(["qqq_Zzzz"], backend, fallback=True)


def test_every_script_stand_in_has_an_espeak_voice():
    backend = get_backend("espeak")
    assert all(backend.voice(lang) for lang in SCRIPT_STAND_INS.values())
