"""Timed phoneme labels of synthesised speech (real libespeak-ng, offline)."""

from __future__ import annotations

import numpy as np
import pytest

from mlcl_core.pretrain.phonemes import (
    SILENCE,
    frame_labels,
    normalise,
    spoken_phonemes,
)
from mlcl_core.speech import synthesize


def test_normalise_drops_stress_and_merges_pauses():
    assert normalise("'a") == "a"
    assert normalise(",0") == "0"
    assert [normalise(p) for p in ("_", "_:", "_|", "_!")] == [SILENCE] * 4
    assert normalise("tS;h") == "tS;h"


def test_frame_labels_take_the_phoneme_started_last():
    timed = [("t", 0.05), ("a", 0.10), ("n", 0.30)]
    assert frame_labels(timed, np.array([0.0, 0.05, 0.2, 0.31, 5.0])) == [
        SILENCE,
        "t",
        "a",
        "n",
        "n",
    ]


@pytest.mark.parametrize(
    "text,lang",
    [
        ("今天天气很好，我们去公园。", "zho_Hans"),
        ("The weather is nice today.", "eng_Latn"),
        ("བོད་ཀྱི་སྐད་ཡིག་", "bod_Tibt"),
    ],
)
def test_spoken_phonemes_match_the_backend_audio(text, lang):
    wave, timed = spoken_phonemes(text, lang)
    # the clip the book hears (libespeak-ng's length varies by a few ms between calls)
    assert abs(len(wave) - len(synthesize(text, lang))) <= 0.02 * len(wave)
    starts = [t for _, t in timed]
    assert (
        len(timed) > 5
        and starts == sorted(starts)
        and starts[-1] <= len(wave) / 16_000 + 0.01
    )
    assert all(name and not name.startswith("'") for name, _ in timed)


def test_burmese_pieces_are_offset_into_one_timeline():
    text = "ရေအောက်၌ သွားလာရန် တိုက်တွန်းခဲ့သည်။ " * 4  # longer than one espeak clause for Burmese
    wave, timed = spoken_phonemes(text, "mya_Mymr")
    starts = [t for _, t in timed]
    assert starts == sorted(starts)
    assert (
        starts[-1] > 0.6 * len(wave) / 16_000
    )  # the last piece's phonemes sit at the end
