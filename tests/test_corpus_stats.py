"""Table 1 statistics: token counts per script, checked on hand-counted examples."""

from __future__ import annotations

import pandas as pd
import pytest

from mlcl_core.corpora import Corpus
from mlcl_core.corpus_stats import (
    burmese_syllables,
    count_chars,
    count_tokens,
    table1,
    token_unit,
)


@pytest.mark.parametrize(
    "text,lang,expected",
    [
        ("今天天气很好。", "zho_Hans", 6),
        ("2024年 GPT-4 发布", "zho_Hans", 3 + 3),  # 年 发 布 + runs 2024, GPT, 4
        ("བཀྲ་ཤིས་བདེ་ལེགས།", "bod_Tibt", 4),
        ("སྤྱི་ལོ་1994ལོའི་", "bod_Tibt", 4),  # 3 syllables + 1994
        ("မင်္ဂလာပါ", "mya_Mymr", 4),  # မင်္ ဂ လာ ပါ (kinzi stacks)
        ("သည့်", "mya_Mymr", 1),  # dot below before asat
        ("ကျွန်တော်", "mya_Mymr", 2),  # ကျွန် တော်
        ("ကမ္ဘာ", "mya_Mymr", 2),  # ကမ္ ဘာ: the stacked ဘ starts a syllable
        ("The cat sat.", "eng_Latn", 3),
    ],
)
def test_count_tokens(text, lang, expected):
    assert count_tokens(text, lang) == expected


def test_units_and_chars():
    assert (
        token_unit("bod_Tibt") == "syllables (tsheg)"
        and token_unit("eng_Latn") == "whitespace words"
    )
    assert count_chars("a b\tc") == 3
    assert burmese_syllables("abc") == 0


def test_table1():
    table = pd.DataFrame(
        {
            "id": ["1", "2"],
            "label": ["a", "a"],
            "split": ["train", "test"],
            "zho_Hans": ["你好", "你好吗"],
            "eng_Latn": ["hi there", "hello"],
        }
    )
    corpus = Corpus("toy", table, ("zho_Hans", "eng_Latn"), ("a",))
    audio = pd.DataFrame(
        {
            "lang": ["zho_Hans", "zho_Hans", "eng_Latn", "eng_Latn"],
            "seconds": [1800.0, 1800, 3600, 0],
        }
    )
    t = table1(corpus, audio)
    assert (
        t.loc["zho_Hans", "avg_tokens"] == 2.5
        and t.loc["eng_Latn", "avg_tokens"] == 1.5
    )
    assert (
        t.loc["zho_Hans", "hours"] == 1.0 and t.loc["eng_Latn", "mean_seconds"] == 1800
    )
    assert list(t.index) == ["zho_Hans", "eng_Latn"] and (t["texts"] == 2).all()
