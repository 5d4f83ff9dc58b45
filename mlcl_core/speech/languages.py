"""Language codes: corpus codes (``zho_Hans``) -> ISO 639-3 -> the codes backends
use."""

from __future__ import annotations

#: ISO 639-3 -> ISO 639-1 for languages that espeak-ng, gTTS or MaryTTS name by a
#: 2-letter code.
ISO3_TO_ISO1: dict[str, str] = {
    "afr": "af",
    "amh": "am",
    "arb": "ar",
    "ara": "ar",
    "azj": "az",
    "bel": "be",
    "ben": "bn",
    "bod": "bo",
    "bos": "bs",
    "bul": "bg",
    "cat": "ca",
    "ces": "cs",
    "cym": "cy",
    "dan": "da",
    "deu": "de",
    "ell": "el",
    "eng": "en",
    "epo": "eo",
    "est": "et",
    "eus": "eu",
    "fin": "fi",
    "fra": "fr",
    "gla": "gd",
    "gle": "ga",
    "glg": "gl",
    "guj": "gu",
    "heb": "he",
    "hin": "hi",
    "hrv": "hr",
    "hun": "hu",
    "hye": "hy",
    "ind": "id",
    "isl": "is",
    "ita": "it",
    "jpn": "ja",
    "kan": "kn",
    "kat": "ka",
    "kaz": "kk",
    "khm": "km",
    "kor": "ko",
    "lit": "lt",
    "lvs": "lv",
    "lav": "lv",
    "mal": "ml",
    "mar": "mr",
    "mkd": "mk",
    "mlt": "mt",
    "mya": "my",
    "nld": "nl",
    "nob": "nb",
    "npi": "ne",
    "nep": "ne",
    "pan": "pa",
    "pes": "fa",
    "fas": "fa",
    "pol": "pl",
    "por": "pt",
    "ron": "ro",
    "rus": "ru",
    "sin": "si",
    "slk": "sk",
    "slv": "sl",
    "spa": "es",
    "srp": "sr",
    "swe": "sv",
    "swh": "sw",
    "swa": "sw",
    "tam": "ta",
    "tel": "te",
    "tha": "th",
    "tur": "tr",
    "ukr": "uk",
    "urd": "ur",
    "uzn": "uz",
    "vie": "vi",
    "zsm": "ms",
    "msa": "ms",
    "zho": "zh",
    "cmn": "zh",
    "yue": "yue",
}


def split_code(lang: str) -> tuple[str, str | None]:
    """(ISO 639-3, script or None) of ``zho_Hans`` / ``zho``; ValueError for malformed
    codes."""
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"language code must be a non-empty str, got {lang!r}")
    iso3, _, script = lang.partition("_")
    if len(iso3) != 3 or not iso3.isalpha() or not iso3.islower():
        raise ValueError(
            f"malformed language code {lang!r}; expected e.g. 'zho_Hans' or 'zho'"
        )
    return iso3, script or None


def is_tibetan(lang: str) -> bool:
    """Standard Tibetan in Tibetan script (``bod_Tibt`` or ``bod``)."""
    iso3, script = split_code(lang)
    return iso3 == "bod" and script in (None, "Tibt")
