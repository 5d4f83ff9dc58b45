"""Google Translate TTS through gTTS (the paper's backend for Chinese and Burmese;
online).

gTTS splits long text into parts of about 100 characters and returns one MP3 per part;
each part is decoded on its own (their concatenation is not one valid MP3 stream)."""

from __future__ import annotations

import numpy as np

from .audio import decode
from .base import SpeechBackend
from .languages import ISO3_TO_ISO1, split_code
from .network import with_retries

#: Corpus codes whose gTTS code is not the ISO 639-1 code. gTTS 2.5 calls the paper's
#: ``zh-CN`` deprecated and maps it to ``zh`` (the same Mandarin voice); ``zh-TW`` is
#: Mandarin (Taiwan).
_SPECIAL = {
    "zho_Hans": "zh",
    "zho_Hant": "zh-TW",
    "zho": "zh",
    "cmn": "zh",
    "yue_Hant": "yue",
}


def gtts_code(lang: str) -> str | None:
    """gTTS language tag for a corpus code, ``None`` if gTTS has none."""
    from gtts.lang import tts_langs

    iso3, _ = split_code(lang)
    code = _SPECIAL.get(lang) or _SPECIAL.get(iso3) or ISO3_TO_ISO1.get(iso3)
    return code if code in tts_langs() else None


class GttsBackend(SpeechBackend):
    """gTTS. ``retries``/``backoff``: exponential backoff on network errors; ``tld``:
    Google domain; ``timeout``: seconds per request."""

    name = "gtts"

    def __init__(
        self,
        retries: int = 3,
        backoff: float = 1.0,
        tld: str = "com",
        timeout: float = 30.0,
    ) -> None:
        import gtts  # optional dependency: imported only when this backend is used

        self._gtts = gtts
        self.retries, self.backoff, self.tld, self.timeout = (
            retries,
            backoff,
            tld,
            timeout,
        )

    @property
    def version(self) -> str:
        # the server's voice may change unseen
        return f"gtts {self._gtts.__version__} tld={self.tld}"

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(
            sorted(c for c in set(ISO3_TO_ISO1) | set(_SPECIAL) if gtts_code(c))
        )

    @classmethod
    def serves(cls, lang: str) -> bool:
        try:
            return gtts_code(lang) is not None
        except (ValueError, ImportError):
            return False

    def voice(self, lang: str) -> str:
        code = gtts_code(lang)
        if code is None:
            raise self.no_voice(lang)
        return code

    def _synthesize(self, text: str, lang: str, text_id: str) -> np.ndarray:
        if not text.strip():
            return np.zeros(0, np.float32)
        tts = self._gtts.gTTS(
            text, lang=self.voice(lang), tld=self.tld, timeout=self.timeout
        )
        parts = with_retries(
            lambda: list(tts.stream()), self.name, text_id, self.retries, self.backoff
        )
        waves = [
            decode(mp3, f"gtts part {i} of {text_id}") for i, mp3 in enumerate(parts)
        ]
        return np.concatenate(waves) if waves else np.zeros(0, np.float32)
