"""Stand-in voices (opt-in): a language with no voice of its own is read by the voice of
its script or of a close language, and the book can say which voice stood in for which.

SIB-200's other Sino-Tibetan languages have no espeak voice: Dzongkha (``dzo_Tibt``),
Jingpho (``kac_Latn``), Mizo (``lus_Latn``) and Meitei in Bengali script (``mni_Beng``).
With ``SpeechConfig(fallback_voices=True)`` each is read by the stand-in of its script
(:data:`SCRIPT_STAND_INS`): Dzongkha through the Tibetan pipeline (bophono's Lhasa IPA
-> espeak ``cmn`` phonemes; Dzongkha is written in Classical Tibetan spelling but not
pronounced like Lhasa Tibetan), Meitei through espeak's Bengali ``bn``, Latin-script
languages through Indonesian ``id``. ``SpeechConfig(stand_ins=("kac_Latn=eng_Latn",))``
names the stand-in of one language (an opt-in for that language alone, before its
script's). Without either, such a language stops with
:class:`~mlcl_core.speech.NoVoiceError`, which names both options.

The audio is the stand-in's, so its cache key holds the stand-in's voice (for Dzongkha
``cmn+bophono``): a clip is never taken for one of another voice or of a real voice of
the language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .base import NoVoiceError, SpeechBackend, get_backend
from .languages import split_code

#: Script (as corpus codes write it) -> the language whose voice reads it. Latin goes to
#: Indonesian, whose spelling gives letters their plain Latin values (a, e, i, o, u; ng,
#: ny, c) much as the missionary orthographies of Jingpho and Mizo do; an English voice
#: would apply English spelling rules to them.
SCRIPT_STAND_INS: dict[str, str] = {
    "Tibt": "bod_Tibt",
    "Beng": "ben_Beng",
    "Latn": "ind_Latn",
    "Mymr": "mya_Mymr",
    "Hans": "zho_Hans",
    "Hant": "zho_Hant",
}


@dataclass(frozen=True)
class StandIn:
    """One language read by another's voice: what the book prints."""

    language: str
    reads_as: str
    voice: str
    why: str

    def __str__(self) -> str:
        return (
            f"{self.language} is read by the {self.reads_as} voice "
            f"({self.voice}; {self.why})"
        )


def parse_stand_ins(entries: Iterable[str]) -> dict[str, str]:
    """``("kac_Latn=eng_Latn", ...)`` -> {language: stand-in}; ValueError if bad."""
    pairs: dict[str, str] = {}
    for entry in entries:
        lang, sep, stand_in = str(entry).partition("=")
        if not sep or "=" in stand_in:
            raise ValueError(
                f"stand-in {entry!r} must read 'language=stand-in', "
                "e.g. 'kac_Latn=eng_Latn'"
            )
        lang, stand_in = lang.strip(), stand_in.strip()
        split_code(lang), split_code(stand_in)  # malformed codes: ValueError names them
        if lang in pairs:
            raise ValueError(f"two stand-ins for {lang}: {pairs[lang]} and {stand_in}")
        pairs[lang] = stand_in
    return pairs


def _has_voice(backend: SpeechBackend, lang: str) -> bool:
    try:
        backend.voice(lang)
    except NoVoiceError:
        return False
    return True


def _no_voice(
    backend: SpeechBackend, lang: str, script: str | None, reads_as: str | None
) -> NoVoiceError:
    """The error for a language with no voice and no stand-in, naming the opt-ins."""
    named = f"stand_ins=('{lang}=<language with a voice>',)"
    if reads_as is None:
        return NoVoiceError(
            f"{backend.name} has no voice for language {lang!r} and "
            f"no stand-in is known for its script {script}; name one: "
            f"{named}"
        )
    return NoVoiceError(
        f"{backend.name} has no voice for language {lang!r}; opt in "
        f"to a stand-in voice: fallback_voices=True reads it as "
        f"{reads_as} (voice of the {script} script), or {named}"
    )


def resolve_stand_ins(
    languages: Sequence[str],
    backend: SpeechBackend,
    fallback: bool = False,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, StandIn]:
    """Language -> its :class:`StandIn`, for the languages read by another's voice.

    ``overrides`` (language -> stand-in) always apply (those of languages not asked
    for are not used); the script's stand-in only with ``fallback`` and where
    ``backend`` has no voice. A language with no voice and no opt-in, or whose
    stand-in has no voice either, raises :class:`NoVoiceError` before any work.
    """
    overrides = dict(overrides or {})
    chosen: dict[str, StandIn] = {}
    for lang in languages:
        if lang in overrides:
            reads_as, why = overrides[lang], "named in stand_ins"
        elif _has_voice(backend, lang):
            continue
        else:
            script = split_code(lang)[1]
            reads_as = SCRIPT_STAND_INS.get(script or "")
            why = f"voice of the {script} script"
            if not fallback or reads_as is None:
                raise _no_voice(backend, lang, script, reads_as)
        if not _has_voice(backend, reads_as):
            raise NoVoiceError(
                f"the stand-in {reads_as} for {lang} has no {backend.name} voice either"
            )
        chosen[lang] = StandIn(lang, reads_as, backend.voice(reads_as), why)
    return chosen


def backend_options(speech_cfg) -> dict:
    """The backend options a :class:`~mlcl_core.config.SpeechConfig` implies."""
    return {"url": speech_cfg.marytts_url} if speech_cfg.backend == "marytts" else {}


def stand_ins(speech_cfg, languages: Sequence[str]) -> dict[str, StandIn]:
    """Which voice stands in for which of ``languages`` under ``speech_cfg`` (a
    :class:`~mlcl_core.config.SpeechConfig`); empty when each has a voice of its own.
    ``print(*stand_ins(cfg.speech, langs).values(), sep="\\n")``: one line each."""
    backend = get_backend(speech_cfg.backend, **backend_options(speech_cfg))
    return resolve_stand_ins(
        languages,
        backend,
        speech_cfg.fallback_voices,
        parse_stand_ins(speech_cfg.stand_ins),
    )
