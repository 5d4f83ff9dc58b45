"""Tibetan through bophono IPA -> espeak cmn phonemes: the mapping is complete and
espeak speaks every syllable (an unknown mnemonic would silently drop the rest of its
word)."""

from __future__ import annotations

import csv
import os
import re

import numpy as np
import pytest

from mlcl_core.corpora import load_sib200
from mlcl_core.speech import SAMPLE_RATE, synthesize
from mlcl_core.speech._espeak_lib import phoneme_inventory
from mlcl_core.speech.espeak import _wheel_paths, shared_lib
from mlcl_core.speech.tibetan import (
    IPA_TO_ESPEAK,
    TONES,
    count_syllables,
    ipa_to_tokens,
    syllable_ipa,
    tibetan_to_espeak,
)

SENTENCE = "བཀྲ་ཤིས་བདེ་ལེགས། ཁྱེད་རང་སྐུ་གཟུགས་བདེ་པོ་ཡིན་པས།"


def _bophono_table(name: str) -> list[str]:
    import bophono

    path = os.path.join(os.path.dirname(bophono.__file__), "data", name)
    with open(path, encoding="utf-8") as fh:
        return [row[0] for row in csv.reader(fh) if row]


def test_every_bophono_syllable_maps_strictly():
    # Every root x ending in bophono's tables, and its exceptions: all it can emit per
    # syllable.
    syllables = [
        r + e for r in _bophono_table("roots.csv") for e in _bophono_table("ends.csv")
    ]
    syllables += _bophono_table("exceptions.csv")
    for syl in syllables:
        # raises IPAError on an unmapped symbol
        ipa_to_tokens(syllable_ipa(syl), strict=True)


def test_mnemonics_and_tones_exist_in_cmn_phoneme_table():
    inventory = phoneme_inventory(_wheel_paths()[1], "cmn")
    used = {m for ms in IPA_TO_ESPEAK.values() for m in ms} | set(TONES.values())
    assert used - inventory == set()


def _spoken(espeak_input: str) -> list[str]:
    _, events = shared_lib().synth(espeak_input, "cmn", phonemes=True)
    return [p.lstrip("',") for p in events if not p.startswith("_")]


@pytest.mark.parametrize(
    "mnemonic", sorted({m for ms in IPA_TO_ESPEAK.values() for m in ms} - {":"})
)
def test_espeak_speaks_each_mnemonic_without_truncating(mnemonic):
    # Compared as strings: espeak may read neighbours as one phoneme (a + i -> diphthong
    # ai), which is fine; what must not happen is a dropped rest of the word.
    assert "".join(_spoken(f"[[pa{mnemonic}a55 pa55]]")) == f"pa{mnemonic}apa"


def test_corpus_sentences_are_spoken_phoneme_for_phoneme():
    # Tibetan only: no Latin/digits read as text
    texts = [
        t
        for t in load_sib200(languages=["bod_Tibt"]).table["bod_Tibt"][:40]
        if re.fullmatch(r"[\u0f00-\u0fff\s]+", t)
    ][:8]
    assert len(texts) == 8
    for text in texts:
        expected = [
            m
            for syl in re.findall(r"[\u0f40-\u0fbc]+", text)
            for tokens, _ in ipa_to_tokens(syllable_ipa(syl))
            for m in tokens
            if m != ":"
        ]
        assert "".join(_spoken(tibetan_to_espeak(text))) == "".join(expected)


def test_duration_grows_linearly_with_syllables():
    seconds = {
        n: len(synthesize("་".join(["བཀྲ", "ཤིས", "བདེ", "ལེགས"] * (n // 4)), "bod_Tibt"))
        / SAMPLE_RATE
        for n in (4, 8, 16, 32)
    }
    per_syllable = [seconds[n] / n for n in seconds]
    assert all(0.15 < s < 0.45 for s in per_syllable), seconds
    assert (
        1.7 < seconds[32] / seconds[16] < 2.3 and 1.7 < seconds[16] / seconds[8] < 2.3
    ), seconds


def test_corpus_duration_tracks_syllable_count():
    texts = load_sib200(languages=["bod_Tibt"]).table["bod_Tibt"][:25]
    syl = np.array([count_syllables(t) for t in texts])
    sec = np.array([len(synthesize(t, "bod_Tibt")) / SAMPLE_RATE for t in texts])
    assert np.corrcoef(syl, sec)[0, 1] > 0.9
    assert 0.2 < np.median(sec / syl) < 0.35


@pytest.mark.parametrize(
    "text",
    [
        "",
        "།",
        "་",
        "། ་ །",
        "༡༢༣",
        "123",
        "Super-G",
        "[[pa55]] ]]",
        "བཀྲ་ཤིས་ 2024 Super-G།",
        "ཊི་ཧྥེ་གྷོ",
        "\u0f7f\u0f71",
        "ཀ" * 40,
    ],
)
def test_never_crashes_on_odd_tibetan_input(text):
    wave = synthesize(text, "bod_Tibt")
    assert wave.dtype == np.float32 and np.isfinite(wave).all()
    if not text.strip("།་ "):
        # empty text: only espeak's brief end pause
        assert len(wave) < 0.05 * SAMPLE_RATE


def test_input_brackets_cannot_open_phoneme_mode():
    assert "[[pa55]]" not in tibetan_to_espeak("[[pa55]]")
    assert tibetan_to_espeak("༡༢") == "12"
    assert count_syllables(SENTENCE) == 12


def test_foreign_letters_are_normalised_not_dropped():
    assert syllable_ipa("ཊི") != "" and syllable_ipa("ཀ") != ""


def test_naive_route_spells_letters():
    from mlcl_core.speech import get_backend

    backend = get_backend("espeak")
    naive, ours = (
        backend.synthesize_raw(SENTENCE, "cmn"),
        backend.synthesize(SENTENCE, "bod_Tibt"),
    )
    assert len(naive) > 5 * len(ours)  # the cmn voice reads each code point's name
