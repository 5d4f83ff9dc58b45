"""Per-language truncation, speech cropping, normaliser damage and [UNK] rates."""

from __future__ import annotations

import numpy as np
import pytest

from mlcl_core import tokenstats as ts
from mlcl_core.encoders import train_wordpiece_tokenizer

TIBETAN, BURMESE = "བོད་ཡིག", "မြန်မာ"


@pytest.fixture(scope="module")
def tokenizer():
    texts = [
        "the cat sat on the mat",
        "a dog and a cat",
        "the mat is red",
        "dogs and cats",
    ] * 5
    return train_wordpiece_tokenizer(texts, vocab_size=60)


def test_truncation_from_counts_by_hand():
    table = ts.truncation_from_counts({"a": [10, 70, 100], "b": [5, 5]}, max_length=64)
    # room for 62 tokens beside [CLS] and [SEP]: 0, 8 and 38 tokens lost
    assert table.loc["a", "truncated"] == pytest.approx(2 / 3)
    assert table.loc["a", "tokens_lost"] == pytest.approx(46 / 180)
    assert table.loc["a", "median_tokens"] == 70 and table.loc["a", "sentences"] == 3
    assert table.loc["b", "truncated"] == 0 and table.loc["b", "tokens_lost"] == 0
    with pytest.raises(ValueError, match="no room"):
        ts.truncation_from_counts({"a": [1]}, max_length=2)
    with pytest.raises(ValueError, match="a:"):
        ts.truncation_from_counts({"a": []}, max_length=64)


def test_truncation_rates_agree_with_the_tokenizers_own_truncation(tokenizer):
    texts = {"en": ["the cat sat on the mat " * k for k in range(1, 6)]}
    table = ts.truncation_rates(tokenizer, texts, max_length=12)
    full = [len(ids) for ids in tokenizer(texts["en"])["input_ids"]]
    cut = [
        len(ids)
        for ids in tokenizer(texts["en"], truncation=True, max_length=12)["input_ids"]
    ]
    assert table.loc["en", "truncated"] == pytest.approx(np.mean(np.array(full) > 12))
    assert table.loc["en", "tokens_lost"] == pytest.approx(
        (sum(full) - sum(cut)) / (sum(full) - 2 * len(full))
    )


def test_length_for_coverage_by_hand():
    # 120 tokens; keeping 114 needs room 94 (10 + 10 + 94), plus the 2 special tokens
    assert ts.length_for_coverage({"a": [10, 10, 100]}, 0.95) == {"a": 96}
    assert ts.length_for_coverage({"a": [10, 10, 100], "b": [3]}, 1.0) == {
        "a": 102,
        "b": 5,
    }
    counts = {"a": np.random.default_rng(0).integers(1, 200, 300)}
    best = ts.length_for_coverage(counts, 0.95)["a"]
    kept = 1 - ts.truncation_from_counts(counts, best).loc["a", "tokens_lost"]
    kept_one_less = (
        1 - ts.truncation_from_counts(counts, best - 1).loc["a", "tokens_lost"]
    )
    assert kept >= 0.95 > kept_one_less  # the smallest such length
    with pytest.raises(ValueError, match="share"):
        ts.length_for_coverage({"a": [1]}, 0.0)


def test_speech_kept_by_hand():
    table = ts.speech_kept({"a": [2.0, 4.0, 10.0]}, max_seconds=4.0)
    assert table.loc["a", "cropped"] == pytest.approx(1 / 3)
    assert table.loc["a", "seconds_kept"] == pytest.approx(10 / 16)
    assert table.loc["a", "median_seconds"] == 4.0
    with pytest.raises(ValueError, match="max_seconds"):
        ts.speech_kept({"a": [1.0]}, 0)
    with pytest.raises(ValueError, match="durations"):
        ts.speech_kept({"a": [float("nan")]}, 4.0)


def test_mbert_uncased_normaliser_deletes_tibetan_and_burmese_vowel_signs():
    uncased, cased = (
        ts.mbert_normalizer(lowercase=True),
        ts.mbert_normalizer(lowercase=False),
    )
    assert uncased.normalize_str(TIBETAN) == "བད་ཡག"
    assert uncased.normalize_str(BURMESE) == "မြနမာ"
    texts = {
        "bod_Tibt": [TIBETAN],
        "mya_Mymr": [BURMESE],
        "zho_Hans": ["中文"],
        "deu_Latn": ["Über"],
    }
    damage = ts.normaliser_damage(uncased, texts)
    assert damage.loc["bod_Tibt", "removed"] == pytest.approx(
        2 / 7
    )  # ོ and ི of 7 code points
    assert damage.loc["mya_Mymr", "removed"] == pytest.approx(1 / 6)  # the asat ်
    assert set(damage.loc["bod_Tibt", "top_removed"]) == {"\u0f7c", "\u0f72"}
    assert (
        damage.loc["zho_Hans", "removed"] == 0
    )  # the spaces around Chinese characters do not count
    assert damage.loc["deu_Latn", "removed"] == pytest.approx(
        1 / 5
    )  # U + diaeresis, b, e, r
    kept = ts.normaliser_damage(cased, texts)
    assert (kept["removed"] == 0).all() and (kept["top_removed"] == "").all()


def test_unk_rates(tokenizer):
    table = ts.unk_rates(tokenizer, {"en": ["the cat", "the ψ"], "xx": ["ψ"]})
    ids = tokenizer(["the cat", "the ψ"], add_special_tokens=False)["input_ids"]
    n_unk = sum(i == tokenizer.unk_token_id for seq in ids for i in seq)
    assert n_unk == 1
    assert table.loc["en", "unk"] == pytest.approx(1 / sum(map(len, ids)))
    assert (
        table.loc["en", "sentences_with_unk"] == 0.5 and table.loc["xx", "unk"] == 1.0
    )
    with pytest.raises(ValueError, match="no texts"):
        ts.unk_rates(tokenizer, {"en": []})


def test_seconds_for_coverage_by_hand():
    # 16 s of speech, 95% is 15.2 s: clips 2 and 4 whole (6 s) + 9.2 s of the 10 s one
    assert ts.seconds_for_coverage({"a": [4.0, 2.0, 10.0]}, 0.95) == {
        "a": pytest.approx(9.2)
    }
    # limit 3: 2 + 3 + 3 = 8 of 16 s, exactly half
    assert ts.seconds_for_coverage({"a": [4.0, 2.0, 10.0]}, 0.5) == {
        "a": pytest.approx(3.0)
    }
    durations = {"a": np.random.default_rng(1).gamma(4.0, 2.5, 500)}
    limit = ts.seconds_for_coverage(durations, 0.9)["a"]
    assert ts.speech_kept(durations, limit).loc["a", "seconds_kept"] == pytest.approx(
        0.9
    )
    with pytest.raises(ValueError, match="share"):
        ts.seconds_for_coverage({"a": [1.0]}, 1.5)


def test_what_is_kept_gathers_the_per_language_losses(tokenizer):
    texts = {"en": ["the cat sat on the mat", "a dog"], "xx": ["the ψ"]}
    table, lines = ts.what_is_kept(tokenizer, texts, max_text_len=4)
    cut = ts.truncation_from_counts(ts.token_counts(tokenizer, texts), 4, 2)
    assert list(table.index) == ["en", "xx"]
    assert table["tokens lost"].tolist() == cut["tokens_lost"].tolist()
    assert table["[UNK]"].tolist() == ts.unk_rates(tokenizer, texts)["unk"].tolist()
    assert "seconds kept" not in table and len(lines) == 1
    worst = cut["tokens_lost"].idxmax()
    assert f"keeps {1 - cut['tokens_lost'].max():.1%}" in lines[0] and worst in lines[0]
    assert "would keep >= 95 % of every language's" in lines[0]
    seconds = {"en": [2.0, 6.0], "xx": [8.0]}
    table, lines = ts.what_is_kept(tokenizer, texts, 4, seconds, max_seconds=4.0)
    # en keeps 2 + 4 of 8 s, xx 4 of 8 s
    assert table["seconds kept"].tolist() == [0.75, 0.5]
    assert table["clips cut at 4 s"].tolist() == [0.5, 1.0]
    assert "keeps 50.0% to 75.0% of the speech" in lines[1]
