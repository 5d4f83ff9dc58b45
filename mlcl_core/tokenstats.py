"""Per-language losses before the encoders see the data: truncation, normaliser, [UNK].

Cutting every language at one ``max_length`` (tokens) or ``max_seconds`` (speech) costs
the languages with longer token sequences more, and a tokenizer's normaliser can delete
whole classes of characters (BERT's ``strip_accents`` drops every combining mark, which
includes Tibetan and Burmese vowel signs). Both bias the per-language accuracies and so
G. The functions here measure these losses per language; they take a tokenizer (any
Hugging Face tokenizer), a ``tokenizers`` normaliser or plain numbers, and return
DataFrames indexed by language. Nothing here trains or downloads anything.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

Texts = Mapping[str, Sequence[str]]


def _check_texts(texts_by_lang: Texts) -> None:
    if not texts_by_lang:
        raise ValueError("no languages given")
    empty = [lang for lang, texts in texts_by_lang.items() if len(texts) == 0]
    if empty:
        raise ValueError(f"no texts for {', '.join(empty)}")


def token_counts(tokenizer: Any, texts_by_lang: Texts) -> dict[str, np.ndarray]:
    """Tokens of each text without special tokens: language -> (N,) int array."""
    _check_texts(texts_by_lang)
    return {
        lang: np.array(
            [
                len(ids)
                for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
            ]
        )
        for lang, texts in texts_by_lang.items()
    }


def truncation_from_counts(
    counts: Mapping[str, Sequence[int]], max_length: int, special_tokens: int = 2
) -> pd.DataFrame:
    """What cutting at ``max_length`` tokens (special tokens included) costs a language.

    ``counts`` holds each text's tokens without special tokens; ``special_tokens`` (2
    for BERT's [CLS] and [SEP]) come out of the budget, as in the tokenizer's own
    truncation.
    Columns: ``sentences``, ``median_tokens``, ``truncated`` (share of sentences cut),
    ``tokens_lost`` (share of all tokens cut off).
    """
    room = max_length - special_tokens
    if room < 1:
        raise ValueError(
            f"max_length {max_length} leaves no room beside "
            f"{special_tokens} special tokens"
        )
    rows = {}
    for lang, n in counts.items():
        n = np.asarray(n, dtype=int)
        if n.size == 0 or np.any(n < 0):
            raise ValueError(
                f"{lang}: token counts must be a non-empty list of counts >= 0"
            )
        lost = np.clip(n - room, 0, None)
        rows[lang] = {
            "sentences": len(n),
            "median_tokens": float(np.median(n)),
            "truncated": float(np.mean(lost > 0)),
            "tokens_lost": float(lost.sum() / max(n.sum(), 1)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def truncation_rates(
    tokenizer: Any, texts_by_lang: Texts, max_length: int
) -> pd.DataFrame:
    """:func:`truncation_from_counts` for ``tokenizer`` on ``texts_by_lang``."""
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    return truncation_from_counts(
        token_counts(tokenizer, texts_by_lang), max_length, specials
    )


def length_for_coverage(
    counts: Mapping[str, Sequence[int]], share: float = 0.95, special_tokens: int = 2
) -> dict[str, int]:
    """The smallest ``max_length`` (special tokens included) that keeps at least
    ``share`` of each language's tokens: language -> max_length. The largest value
    serves all of them."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must lie in (0, 1], got {share}")
    out = {}
    for lang, n in counts.items():
        n = np.sort(np.asarray(n, dtype=int))
        if n.size == 0:
            raise ValueError(f"{lang}: no token counts")
        total = n.sum()
        # kept(room) = sum(min(n, room)) grows with room; the answer is one of 0..max(n)
        rooms = np.arange(int(n[-1]) + 1)
        kept = np.array([np.minimum(n, r).sum() for r in rooms])
        room = int(rooms[np.argmax(kept >= share * total - 1e-9)]) if total else 0
        out[lang] = room + special_tokens
    return out


def speech_kept(
    seconds_by_lang: Mapping[str, Sequence[float]], max_seconds: float
) -> pd.DataFrame:
    """What cropping clips to their first ``max_seconds`` costs each language.

    Columns: ``clips``, ``median_seconds``, ``cropped`` (share of clips longer than the
    limit), ``seconds_kept`` (share of all speech that the encoder hears).
    """
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    rows = {}
    for lang, s in seconds_by_lang.items():
        s = np.asarray(s, dtype=float)
        if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s < 0):
            raise ValueError(
                f"{lang}: durations must be a non-empty list of finite seconds >= 0"
            )
        rows[lang] = {
            "clips": len(s),
            "median_seconds": float(np.median(s)),
            "cropped": float(np.mean(s > max_seconds)),
            "seconds_kept": float(
                np.minimum(s, max_seconds).sum() / max(s.sum(), 1e-12)
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def seconds_for_coverage(
    seconds_by_lang: Mapping[str, Sequence[float]], share: float = 0.95
) -> dict[str, float]:
    """The smallest ``max_seconds`` that keeps at least ``share`` of each language's
    speech: language -> seconds (cropping keeps ``min(clip, max_seconds)`` of each
    clip)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must lie in (0, 1], got {share}")
    out = {}
    for lang, s in seconds_by_lang.items():
        s = np.sort(np.asarray(s, dtype=float))
        if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s < 0):
            raise ValueError(
                f"{lang}: durations must be a non-empty list of finite seconds >= 0"
            )
        need = share * s.sum()
        # a limit between s[i-1] and s[i] keeps below[i] + (n - i) * limit seconds
        below = np.concatenate(
            [[0.0], np.cumsum(s)[:-1]]
        )  # (n,) sum of the shorter clips
        limits = (need - below) / (len(s) - np.arange(len(s)))  # (n,)
        lower = np.concatenate([[0.0], s[:-1]])
        ok = (limits >= lower - 1e-12) & (limits <= s + 1e-12)
        out[lang] = float(max(limits[np.argmax(ok)], 0.0))
    return out


def mbert_normalizer(lowercase: bool = True):
    """The normaliser of ``bert-base-multilingual-uncased`` (``lowercase=True``:
    lowercasing and, following it, accent stripping) or ``-cased`` (neither), built
    locally."""
    from tokenizers import normalizers

    return normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=None,
        lowercase=lowercase,
    )


def _letters(text: str) -> str:
    """Code points after canonical decomposition, without whitespace."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not ch.isspace())


def normaliser_damage(
    normalizer: Any, texts_by_lang: Texts, top: int = 5
) -> pd.DataFrame:
    """Share of characters that ``normalizer`` (a ``tokenizers`` normaliser) deletes.

    Characters are counted as code points after canonical decomposition (NFD), without
    whitespace, so a stripped accent counts as one deleted mark, while changed letters
    (lowercasing) and the spaces put around Chinese characters do not count. Columns:
    ``chars`` (before), ``removed`` (share deleted), ``sentences_changed`` (share of
    texts with at least one deletion) and ``top_removed`` (the most often deleted
    characters).
    """
    _check_texts(texts_by_lang)
    rows = {}
    for lang, texts in texts_by_lang.items():
        before = after = changed = 0
        lost: Counter[str] = Counter()
        for text in texts:
            a, b = _letters(text), _letters(normalizer.normalize_str(text))
            before, after = before + len(a), after + len(b)
            changed += len(b) < len(a)
            lost.update(
                Counter(a.lower()) - Counter(b.lower())
            )  # case changes are not losses
        rows[lang] = {
            "chars": before,
            "removed": max(before - after, 0) / max(before, 1),
            "sentences_changed": changed / len(texts),
            "top_removed": "".join(ch for ch, _ in lost.most_common(top)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def unk_rates(tokenizer: Any, texts_by_lang: Texts) -> pd.DataFrame:
    """Share of [UNK] among each language's tokens (special tokens not counted), and the
    share of sentences with at least one."""
    _check_texts(texts_by_lang)
    unk = tokenizer.unk_token_id
    if unk is None:
        raise ValueError("the tokenizer has no unknown token")
    rows = {}
    for lang, texts in texts_by_lang.items():
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        n_unk = np.array([sum(i == unk for i in seq) for seq in ids])
        total = sum(len(seq) for seq in ids)
        rows[lang] = {
            "tokens": total,
            "unk": float(n_unk.sum() / max(total, 1)),
            "sentences_with_unk": float(np.mean(n_unk > 0)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def what_is_kept(
    tokenizer: Any,
    texts_by_lang: Texts,
    max_text_len: int,
    seconds_by_lang: Mapping[str, Sequence[float]] | None = None,
    max_seconds: float | None = None,
    coverage: float = 0.95,
) -> tuple[pd.DataFrame, list[str]]:
    """What a profile keeps of each language before the encoders see it: one table
    (normaliser damage, also under uncased mBERT's normaliser; [UNK]; truncation at
    ``max_text_len``; speech cropped at ``max_seconds`` when durations are given) and
    the sentences that say what the limits cost and which limits would keep
    ``coverage`` of every language's tokens and seconds."""
    normaliser = tokenizer.backend_tokenizer.normalizer
    counts = token_counts(tokenizer, texts_by_lang)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    cut = truncation_from_counts(counts, max_text_len, specials)
    uncased = normaliser_damage(mbert_normalizer(lowercase=True), texts_by_lang)
    kept = {
        "chars removed": normaliser_damage(normaliser, texts_by_lang)["removed"],
        "removed by mBERT uncased": uncased["removed"],
        "[UNK]": unk_rates(tokenizer, texts_by_lang)["unk"],
        "median tokens": cut["median_tokens"],
        f"cut at {max_text_len}": cut["truncated"],
        "tokens lost": cut["tokens_lost"],
    }
    need = max(length_for_coverage(counts, coverage, specials).values())
    lines = [
        f"max_text_len {max_text_len} keeps {1 - cut['tokens_lost'].max():.1%} of the "
        f"worst-served language's tokens ({cut['tokens_lost'].idxmax()}); {need} would "
        f"keep >= {coverage * 100:.0f} % of every language's"
    ]
    if seconds_by_lang is not None and max_seconds is not None:
        crop = speech_kept(seconds_by_lang, max_seconds)
        kept[f"clips cut at {max_seconds:g} s"] = crop["cropped"]
        kept["seconds kept"] = crop["seconds_kept"]
        secs = max(seconds_for_coverage(seconds_by_lang, coverage).values())
        lines.append(
            f"max_seconds {max_seconds:g} keeps {crop['seconds_kept'].min():.1%} to "
            f"{crop['seconds_kept'].max():.1%} of the speech; {secs:.1f} s would keep "
            f">= {coverage * 100:.0f} % of every language's"
        )
    return pd.DataFrame(kept), lines
