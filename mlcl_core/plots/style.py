"""One look for every figure of the book: a seaborn theme and one colour per language.

A language keeps its colour in every chapter and every figure (Chinese is always the
same blue), whatever other languages a run includes: the book's languages have fixed
colours, any other language gets one from the rest of the palette by a stable hash of
its code.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import seaborn as sns

# seaborn's "colorblind" palette: told apart with the common colour-vision deficiencies
PALETTE: tuple[str, ...] = tuple(sns.color_palette("colorblind", 10).as_hex())
LANGUAGE_COLORS: dict[str, str] = {
    "zho_Hans": PALETTE[0],
    "bod_Tibt": PALETTE[1],
    "mya_Mymr": PALETTE[2],
    "eng_Latn": PALETTE[4],
}
# Colours left for other languages (grey, index 7, stays for "other"/reference marks).
_SPARE = tuple(
    c for i, c in enumerate(PALETTE) if c not in LANGUAGE_COLORS.values() and i != 7
)
NEUTRAL = PALETTE[7]
CONFUSION_CMAP = "Blues"  # rates in [0, 1], white at 0
ATTENTION_CMAP = "viridis"  # weights between their own min and max


def language_color(lang: str) -> str:
    """The hex colour of ``lang`` (an ISO 639-3 + script code) in every figure of the
    book."""
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"language code must be a non-empty string, got {lang!r}")
    if lang in LANGUAGE_COLORS:
        return LANGUAGE_COLORS[lang]
    return _SPARE[
        zlib.crc32(lang.encode()) % len(_SPARE)
    ]  # stable across runs, unlike hash()


def language_palette(languages: Sequence[str]) -> list[str]:
    """Colours of ``languages``, in their order (for seaborn's ``palette=``)."""
    return [language_color(lang) for lang in languages]


def set_theme() -> None:
    """The book's seaborn theme (white background, ticks, light y grid, the palette
    above)."""
    sns.set_theme(
        context="notebook",
        style="ticks",
        palette=list(PALETTE),
        font_scale=0.9,
        rc={
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "legend.frameon": False,
        },
    )
