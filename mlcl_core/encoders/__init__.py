"""Text and audio encoders for both profiles: built from config (``tiny``) or loaded
(``paper``).

* Text: a BERT. ``tiny`` trains a WordPiece tokenizer on the corpus (no lowercasing, no
  accent stripping, so Tibetan and Burmese vowel signs survive) and builds a random-init
  BERT of the configured geometry; ``paper`` loads ``bert-base-multilingual-uncased``
  (or any hub id / local directory) with ``from_pretrained``, or builds its geometry at
  random init when ``pretrained=False``.
* Audio: a wav2vec2 whose convolutional feature extractor is always frozen and whose
  transformer layers are each followed by adapters (:mod:`mlcl_core.adapters`). The
  frozen feature extractor runs once per corpus (:meth:`AudioEncoder.extract_features`);
  training only runs :meth:`AudioEncoder.forward` on the cached features.

``HF_HUB_OFFLINE`` and the Hugging Face cache are honoured by ``from_pretrained``
itself."""

from mlcl_core.encoders.audio import AudioEncoder, build_audio_encoder, wav2vec2_config
from mlcl_core.encoders.text import (
    SPECIAL_TOKENS,
    bert_config,
    build_text_encoder,
    pool,
    train_wordpiece_tokenizer,
)

__all__ = [
    "AudioEncoder",
    "build_audio_encoder",
    "wav2vec2_config",
    "SPECIAL_TOKENS",
    "bert_config",
    "build_text_encoder",
    "pool",
    "train_wordpiece_tokenizer",
]
