"""Tibetan for a voice that has none: syllables -> bophono Lhasa IPA -> espeak ``cmn``
phonemes.

espeak-ng has no Tibetan voice and reads Tibetan letters one code point at a time. Here
each syllable (split on tsheg ་ and shad །) goes through bophono (Lhasa pronunciation
after Tournadre's *Manual of Standard Tibetan*, with tones); its IPA is mapped to
phoneme mnemonics that espeak's Mandarin (``cmn``) phoneme table knows, and spoken
inside ``[[...]]``. An unknown mnemonic would make espeak silently drop the rest of its
word, so the table below covers every symbol bophono emits (tests check this against the
phoneme table in espeak's data).

Approximations (Mandarin has no such sounds): voiced initials of low-tone syllables use
base1's voiced phonemes, retroflex stops become Mandarin retroflex affricates (zh/ch), ø
becomes e, final glottal stop is kept, unreleased stops after it are dropped, nasalised
vowels get a velar nasal. Tones: high ˥ -> 55, low ˩˨ -> 22, high falling ˥˨ -> 53,
low rising-falling ˩˧˨ -> 35 (Mandarin has no 132 contour).
"""

from __future__ import annotations

import contextlib
import io
import re
from functools import lru_cache

#: Bump when the mapping changes: it is part of the speech cache key.
MAP_VERSION = "1"

#: IPA (as bophono writes it) -> espeak mnemonics of the cmn voice (cmn + base1 tables).
IPA_TO_ESPEAK: dict[str, tuple[str, ...]] = {
    # stops and affricates: aspiration, voicing (low tone), devoicing ring = unaspirated
    # voiceless
    "kʰ": ("kh",),
    "k": ("k",),
    "g̊": ("k",),
    "g": ("g",),
    "cʰ": ("tS;h",),
    "c": ("tS;",),
    "ɟ̊": ("tS;",),
    "ɟ": ("dZ;",),
    "ʈʰ": ("ts.h",),
    "ʈ": ("ts.",),
    "ɖ̥": ("ts.",),
    "ɖ": ("dZ",),
    "tʰ": ("th",),
    "t": ("t",),
    "d̥": ("t",),
    "d": ("d",),
    "pʰ": ("ph",),
    "p": ("p",),
    "b̥": ("p",),
    "b": ("b",),
    "tɕʰ": ("tS;h",),
    "tɕ": ("tS;",),
    "dʑ̥": ("tS;",),
    "dʑ": ("dZ;",),
    "tsʰ": ("tsh",),
    "ts": ("ts",),
    "dz̥": ("ts",),
    "dz": ("ts",),
    # fricatives, sonorants
    "ɕ": ("S;",),
    "ʑ": ("Z;",),
    "s": ("s",),
    "z": ("z",),
    "ʂ": ("s.",),
    "h": ("h",),
    "ɣ": ("Q",),
    "l̥ʰ": ("h", "l"),
    "l̥": ("h", "l"),
    "l": ("l",),
    "r": ("r",),
    "m": ("m",),
    "n": ("n",),
    "ɲ": ("n^",),
    "ŋ": ("N",),
    "w": ("w",),
    "j": ("j",),
    # codas: glottal stop kept, unreleased stops inaudible after it, n̚ spoken as n
    "ʔ": ("?",),
    "k̚": (),
    "p̚": (),
    "n̚": ("n",),
    # vowels, length, nasalisation, the འི affix glide
    "a": ("a",),
    "ə": ("@",),
    "e": ("e",),
    "ɛ": ("E",),
    "i": ("i",),
    "ɪ̯": ("i",),
    "ɪ": ("i",),
    "o": ("o",),
    "ɔ": ("o",),
    "u": ("u",),
    "y": ("y",),
    "ø": ("e",),
    "ː": (":",),
    "\u0303": ("N",),
}
#: bophono's tone letters (its defaults) -> cmn tone phonemes.
TONES: dict[str, str] = {"˩˧˨": "35", "˥˨": "53", "˩˨": "22", "˥": "55"}

_IPA_KEYS = sorted(IPA_TO_ESPEAK, key=len, reverse=True)  # longest match first
_TONE_KEYS = sorted(TONES, key=len, reverse=True)
_TIB_DIGITS = str.maketrans("༠༡༢༣༤༥༦༧༨༩", "0123456789")
# Letters used for Sanskrit/foreign words that bophono's tables lack -> nearest native
# letters.
_FOREIGN = {
    "ཊ": "ཏ",
    "ཋ": "ཐ",
    "ཌ": "ད",
    "ཎ": "ན",
    "ཥ": "ཤ",
    "ྚ": "ྟ",
    "ྜ": "ྡ",
    "ྞ": "ྣ",
    "ྥ": "",
    "ཱ": "",
    "ྷ": "",
    "ཿ": "",
    "ྃ": "ྨ",
    "ཾ": "ྨ",
}
# A Tibetan syllable: letters, subjoined letters and vowel signs (U+0F40-U+0FBC).
_TOKENS = re.compile(
    r"(?P<syl>[\u0f40-\u0fbc]+)|(?P<pause>[\u0f0d-\u0f14]+)"
    r"|(?P<skip>[\u0f00-\u0f0c\u0f15-\u0f3f\u0fbd-\u0fff\s]+)|(?P<other>[^\u0f00-\u0fff\s]+)"
)


class IPAError(ValueError):
    """bophono emitted a symbol that has no espeak mnemonic (``strict`` mapping
    only)."""


@lru_cache(maxsize=1)
def _converter():
    import bophono

    return bophono.UnicodeToApi(schema="MST", options={})


@lru_cache(maxsize=65536)
def syllable_ipa(syllable: str) -> str:
    """bophono's Lhasa IPA for one syllable; '' if it cannot parse it (even after
    normalising letters of foreign words)."""
    with contextlib.redirect_stdout(io.StringIO()):  # bophono prints its warnings
        ipa = _converter().get_api(syllable)
        if not ipa:
            native = "".join(_FOREIGN.get(ch, ch) for ch in syllable)
            ipa = _converter().get_api(native) if native != syllable else ""
    return ipa


def ipa_to_tokens(ipa: str, strict: bool = False) -> list[tuple[list[str], str]]:
    """(espeak mnemonics, tone phoneme or '') per syllable of bophono IPA ('.' separates
    syllables). Unknown symbols are skipped (``strict``: :class:`IPAError`)."""
    syllables = []
    # A monosyllable's འི affix comes as ".ɪ": keep it in its syllable (one tone, no
    # pause).
    for part in ipa.replace(".ɪ", "ɪ").split("."):
        out: list[str] = []
        tone, i = "", 0
        # then the nasalised vowel needs no extra N
        nasal_coda = "ŋ" in part or "n̚" in part
        while i < len(part):
            tone_key = next((t for t in _TONE_KEYS if part.startswith(t, i)), None)
            if tone_key:
                tone, i = TONES[tone_key], i + len(tone_key)
                continue
            key = next((k for k in _IPA_KEYS if part.startswith(k, i)), None)
            if key is None:
                if strict:
                    raise IPAError(
                        f"no espeak mnemonic for {part[i]!r} (U+{ord(part[i]):04X}) "
                        f"in {ipa!r}"
                    )
                i += 1
                continue
            if not (key == "\u0303" and nasal_coda):
                out.extend(IPA_TO_ESPEAK[key])
            i += len(key)
        if out:
            syllables.append((out, tone))
    return syllables


def ipa_to_mnemonics(ipa: str, strict: bool = False) -> list[str]:
    """espeak phoneme words for bophono IPA: one per syllable, ending with its tone
    phoneme."""
    return ["".join(tokens) + tone for tokens, tone in ipa_to_tokens(ipa, strict)]


def tibetan_to_espeak(text: str) -> str:
    """espeak input for Tibetan text: syllables as ``[[...]]`` phoneme words, shad as a
    pause, digits (Tibetan or Arabic) and Latin as plain text for the cmn voice; no
    ``[[`` from the input survives. Unparsable syllables are skipped."""
    pieces: list[str] = []
    words: list[str] = []
    for m in _TOKENS.finditer(text.translate(_TIB_DIGITS)):
        if m.lastgroup == "syl":
            words.extend(ipa_to_mnemonics(syllable_ipa(m.group())))
            continue
        # tsheg, spaces, other signs: the phoneme block goes on
        if m.lastgroup == "skip":
            continue
        if words:
            pieces.append("[[" + " ".join(words) + "]]")
            words = []
        if m.lastgroup == "pause":
            pieces.append(", ")
        elif m.lastgroup == "other":
            plain = re.sub(r"[\[\]]", " ", m.group()).strip()
            if plain:
                pieces.append(f" {plain} ")
    if words:
        pieces.append("[[" + " ".join(words) + "]]")
    return "".join(pieces).strip()


def count_syllables(text: str) -> int:
    """Tibetan syllables in ``text`` (runs of letters between tsheg, shad and
    spaces)."""
    return sum(1 for m in _TOKENS.finditer(text) if m.lastgroup == "syl")
