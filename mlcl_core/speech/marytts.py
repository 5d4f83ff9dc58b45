"""MaryTTS HTTP client (the paper's Tibetan backend): ``/process`` on a user's server.

Needs a running MaryTTS server (default ``http://localhost:59125``) with a voice for the
language; which locales it has is only known to the server, so ``locales`` maps corpus
codes to the server's ``LOCALE`` values and ``voices`` optionally picks a ``VOICE`` per
language."""

from __future__ import annotations

import numpy as np

from .audio import decode
from .base import SpeechBackend
from .languages import ISO3_TO_ISO1, split_code
from .network import with_retries


def mary_locale(lang: str, locales: dict[str, str] | None = None) -> str | None:
    """LOCALE for a corpus code: ``locales`` first (full code, then ISO 639-3), else ISO
    639-1."""
    iso3, _ = split_code(lang)
    locales = locales or {}
    return locales.get(lang) or locales.get(iso3) or ISO3_TO_ISO1.get(iso3)


class MaryTTSError(RuntimeError):
    """The MaryTTS server answered with an error (its message is kept)."""


class MaryTTSBackend(SpeechBackend):
    """MaryTTS over HTTP with retries and exponential backoff."""

    name = "marytts"

    def __init__(
        self,
        url: str = "http://localhost:59125",
        locales: dict[str, str] | None = None,
        voices: dict[str, str] | None = None,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 60.0,
    ) -> None:
        import requests

        self._session = requests.Session()
        self.url = url.rstrip("/")
        self.locales, self.voices = dict(locales or {}), dict(voices or {})
        self.retries, self.backoff, self.timeout = retries, backoff, timeout

    @property
    def version(self) -> str:
        # The server's voices are outside our view: the URL stands for them in the cache
        # key.
        return f"marytts {self.url}"

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(ISO3_TO_ISO1) | set(self.locales)))

    @classmethod
    def serves(cls, lang: str) -> bool:
        try:
            return mary_locale(lang) is not None
        except ValueError:
            return False

    def voice(self, lang: str) -> str:
        locale = mary_locale(lang, self.locales)
        if locale is None:
            raise self.no_voice(lang)
        voice = self.voices.get(lang) or self.voices.get(split_code(lang)[0])
        return f"{locale}/{voice}" if voice else locale

    def _synthesize(self, text: str, lang: str, text_id: str) -> np.ndarray:
        if not text.strip():
            return np.zeros(0, np.float32)
        locale, _, voice = self.voice(lang).partition("/")
        params = {
            "INPUT_TEXT": text,
            "INPUT_TYPE": "TEXT",
            "OUTPUT_TYPE": "AUDIO",
            "AUDIO": "WAVE_FILE",
            "LOCALE": locale,
        }
        if voice:
            params["VOICE"] = voice
        data = with_retries(
            lambda: self._post(params), self.name, text_id, self.retries, self.backoff
        )
        return decode(data, f"marytts answer for {text_id}")

    def _post(self, params: dict[str, str]) -> bytes:
        r = self._session.post(f"{self.url}/process", data=params, timeout=self.timeout)
        if r.status_code != 200:
            raise MaryTTSError(f"HTTP {r.status_code}: {r.text[:300]}")
        return r.content
