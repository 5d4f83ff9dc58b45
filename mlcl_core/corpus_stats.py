"""Corpus statistics for the paper's Table 1: texts, average length in tokens and
characters, hours of speech, per language.

Tokens are counted per script, because Chinese, Tibetan and Burmese do not put spaces
between words and no word segmenter is used here:

- Chinese (Hans/Hant): one token per Han character;
- Tibetan: one token per syllable (letters between tsheg ་, shad ། or spaces);
- Burmese: one token per orthographic syllable (each consonant or independent vowel
  starts one unless asat ် or virama ္ follows it, which makes it a final);
- any other script: whitespace-separated words.

In every script a run of Latin letters or digits counts as one token. These are syllable
counts for the three Sino-Tibetan languages, not word counts: a Chinese or Tibetan word
has about 1.5-2 syllables, so they are not directly comparable with the paper's "23
words"."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from mlcl_core.corpora import Corpus

TOKEN_UNITS = {
    "Hans": "Han characters",
    "Hant": "Han characters",
    "Tibt": "syllables (tsheg)",
    "Mymr": "syllables (orthographic)",
}
_ALNUM = re.compile(r"[A-Za-z0-9\u0f20-\u0f29\u1040-\u1049]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TIB_SYL = re.compile(r"[\u0f40-\u0fbc]+")
_MY_STARTS = {chr(c) for c in range(0x1000, 0x102B)} | {"\u103f"}
_MY_KILLERS = ("\u103a", "\u1039")  # asat, virama
_MY_SKIP = "\u1037"  # dot below may sit between a consonant and its asat


def burmese_syllables(text: str) -> int:
    """Orthographic syllables of Burmese text (digits and Latin not included)."""
    count = 0
    for i, ch in enumerate(text):
        # a stacked consonant (after virama) does start a syllable
        if ch not in _MY_STARTS:
            continue
        j = i + 1
        while j < len(text) and text[j] == _MY_SKIP:
            j += 1
        if j < len(text) and text[j] in _MY_KILLERS:
            continue
        count += 1
    return count


def token_unit(lang: str) -> str:
    """What :func:`count_tokens` counts for ``lang`` (e.g. 'syllables (tsheg)')."""
    return TOKEN_UNITS.get(lang.partition("_")[2], "whitespace words")


def count_tokens(text: str, lang: str) -> int:
    """Tokens of ``text`` in ``lang``, counted per script as the module docstring
    says."""
    script = lang.partition("_")[2]
    alnum = len(_ALNUM.findall(text))
    if script in ("Hans", "Hant"):
        return len(_HAN.findall(text)) + alnum
    if script == "Tibt":
        return len(_TIB_SYL.findall(text)) + alnum
    if script == "Mymr":
        return burmese_syllables(text) + alnum
    return len(text.split())


def count_chars(text: str) -> int:
    """Characters (code points) without whitespace."""
    return sum(1 for ch in text if not ch.isspace())


def table1(
    corpus: Corpus,
    audio: pd.DataFrame | None = None,
    languages: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The paper's Table 1 per language: texts, average tokens (and their unit), average
    characters, and hours and mean seconds of speech from ``audio`` (a
    :func:`~mlcl_core.speech.synthesize_corpus` table), if given."""
    rows = []
    for lang in languages or corpus.languages:
        texts = corpus.table[lang]
        row = {
            "lang": lang,
            "texts": len(texts),
            "avg_tokens": texts.map(lambda t, lang=lang: count_tokens(t, lang)).mean(),
            "token_unit": token_unit(lang),
            "avg_chars": texts.map(count_chars).mean(),
        }
        if audio is not None:
            seconds = audio.loc[audio["lang"] == lang, "seconds"]
            row.update(hours=seconds.sum() / 3600, mean_seconds=seconds.mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("lang")
