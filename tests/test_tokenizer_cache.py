"""The tiny profile's WordPiece vocabulary is cached on disk, keyed by texts and
settings.

Training it is not reproducible across processes (ties broken in hash order), so every
build on a machine must reuse the first build's vocabulary file.
"""

from __future__ import annotations

import pytest

import mlcl_core.encoders.text as text_mod
from mlcl_core.encoders import train_wordpiece_tokenizer
from mlcl_core.encoders.text import tokenizer_cache_path, wordpiece_vocab

TEXTS = [
    "我们 今天 去 学校",
    "བོད་ཀྱི་སྐད་ཡིག་ནི་",
    "မြန်မာ ဘာသာ စကား",
    "the cat sat on the mat",
    "the dog sat on the log",
] * 4


def test_second_build_reads_the_cached_vocabulary_file(tmp_path, monkeypatch):
    first = train_wordpiece_tokenizer(TEXTS, vocab_size=120, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert files == [tokenizer_cache_path(TEXTS, 120, tmp_path)]
    written = files[0].read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("the vocabulary was trained again instead of read")

    monkeypatch.setattr(text_mod, "_train_vocab", no_training)
    second = train_wordpiece_tokenizer(TEXTS, vocab_size=120, cache_dir=tmp_path)
    assert second.get_vocab() == first.get_vocab()
    assert files[0].read_bytes() == written
    assert list(tmp_path.iterdir()) == files
    ids = second("the cat sat")["input_ids"]
    assert ids == first("the cat sat")["input_ids"]
    assert ids[0] == second.cls_token_id and ids[-1] == second.sep_token_id
    # canonical ids: special tokens first, then the learnt tokens sorted
    vocab = wordpiece_vocab(TEXTS, 120, tmp_path)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:] == sorted(vocab[5:])


def test_the_key_follows_the_texts_and_the_settings(tmp_path):
    key = tokenizer_cache_path(TEXTS, 120, tmp_path)
    assert tokenizer_cache_path(list(TEXTS), 120, tmp_path) == key
    assert tokenizer_cache_path(TEXTS[:-1], 120, tmp_path) != key
    assert tokenizer_cache_path(TEXTS[:-1] + ["the dog sat"], 120, tmp_path) != key
    assert tokenizer_cache_path(["ab", "c"], 120, tmp_path) != tokenizer_cache_path(
        ["a", "bc"], 120, tmp_path
    )
    assert tokenizer_cache_path(TEXTS, 121, tmp_path) != key
    other_texts = TEXTS[:-1] + ["un autre texte"]
    other = wordpiece_vocab(other_texts, 120, tmp_path)
    assert list(tmp_path.iterdir()) == [
        tokenizer_cache_path(other_texts, 120, tmp_path)
    ]
    assert "autre" in other and not key.exists()


def test_a_damaged_cache_file_is_retrained_and_no_cache_writes_nothing(
    tmp_path, monkeypatch
):
    path = tokenizer_cache_path(TEXTS, 120, tmp_path)
    path.write_text("garbage", encoding="utf-8")
    vocab = wordpiece_vocab(TEXTS, 120, tmp_path)
    assert path.read_text(encoding="utf-8").split("\n") == vocab

    def no_writing(*args, **kwargs):
        raise AssertionError("cache_dir=None wrote a file")

    monkeypatch.setattr(text_mod, "atomic_path", no_writing)
    assert wordpiece_vocab(TEXTS, 120, cache_dir=None) == vocab
    with pytest.raises(ValueError, match="no non-empty texts"):
        wordpiece_vocab(["", " "], 120, tmp_path)
