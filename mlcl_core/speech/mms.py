"""MMS-TTS (Pratap et al. 2023) through transformers' ``VitsModel`` (optional; CC BY-NC
weights).

Models are ``facebook/mms-tts-<iso3>`` on the hub, or local directories given in
``models``; ``HF_HUB_OFFLINE=1`` and the HF cache are honoured by ``from_pretrained``.
VITS samples its
durations and noise: ``seed`` fixes them so the same text gives the same audio (and the
cache stays valid)."""

from __future__ import annotations

import numpy as np

from .audio import resample
from .base import SpeechBackend
from .languages import split_code


class MmsBackend(SpeechBackend):
    """MMS-TTS. ``models``: corpus code or ISO 639-3 -> hub id or local path (default
    ``facebook/mms-tts-<iso3>``); ``device``: torch device; ``seed``: sampling seed."""

    name = "mms"

    def __init__(
        self, models: dict[str, str] | None = None, device: str = "cpu", seed: int = 0
    ) -> None:
        # optional heavy dependencies, imported only when this backend is used
        import torch
        import transformers

        self._torch, self._transformers = torch, transformers
        self.models, self.device, self.seed = dict(models or {}), device, seed
        self._loaded: dict[str, tuple] = {}

    @property
    def version(self) -> str:
        return f"transformers {self._transformers.__version__} seed={self.seed}"

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.models))  # plus any hub model facebook/mms-tts-<iso3>

    @classmethod
    def serves(cls, lang: str) -> bool:
        try:
            split_code(lang)  # MMS has >1,100 languages; only the hub knows which exist
        except ValueError:
            return False
        return True

    def voice(self, lang: str) -> str:
        try:
            iso3, _ = split_code(lang)
        except ValueError:
            raise self.no_voice(lang) from None
        return (
            self.models.get(lang) or self.models.get(iso3) or f"facebook/mms-tts-{iso3}"
        )

    def _model(self, source: str) -> tuple:
        if source not in self._loaded:
            tf = self._transformers
            model = tf.VitsModel.from_pretrained(source).to(self.device).eval()
            self._loaded[source] = (model, tf.AutoTokenizer.from_pretrained(source))
        return self._loaded[source]

    def _synthesize(self, text: str, lang: str, text_id: str) -> np.ndarray:
        model, tokenizer = self._model(self.voice(lang))
        inputs = tokenizer(text, return_tensors="pt").to(self.device)
        # empty text, or no character in the model's vocabulary
        if inputs["input_ids"].shape[1] == 0:
            return np.zeros(0, np.float32)
        self._torch.manual_seed(self.seed)
        with self._torch.no_grad():
            wave = model(**inputs).waveform[0]  # (T,)
        return resample(wave.float().cpu().numpy(), model.config.sampling_rate)
