"""Tiny pre-trained checkpoints made by the project: a tiny "mBERT" and a tiny
"wav2vec2-960h".

The paper starts from mBERT (masked-LM pre-training on many languages, no Tibetan) and
wav2vec2-base-960h (speech pre-training fine-tuned for recognition). ``make pretrain``
(``python -m mlcl_core.pretrain``) builds tiny counterparts from the repository's own
data:

* :mod:`.mlm`: WordPiece vocabulary + masked LM on the SIB-200 training splits of 87
  languages (``../shared/data/sib200-pretrain``, read at build time, not vendored: 14 MB
  of text);
* :mod:`.asr`: an audio encoder trained to recognise, frame by frame, the phonemes
  espeak speaks (:mod:`.phonemes`) in the synthesised training speech of the embedded
  SIB-200.

Both are saved like hub checkpoints under :data:`CHECKPOINT_DIR` (package data) with a
``provenance.json`` beside them, and load with ``from_pretrained``: set
``text.name_or_path`` / ``audio.name_or_path`` to :func:`checkpoint_path` and
``pretrained=True``.
"""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
TEXT_CHECKPOINT = "tiny-mbert"
AUDIO_CHECKPOINT = "tiny-wav2vec2"
#: The mBERT-like pool, in ``../shared`` beside the repository (as in CI).
DEFAULT_POOL = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sib200-pretrain"
)


def checkpoint_path(name: str) -> str:
    """Local directory of a shipped checkpoint (``tiny-mbert`` or ``tiny-wav2vec2``)."""
    path = CHECKPOINT_DIR / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"checkpoint {name!r} not built at {path}; run `make pretrain`"
        )
    return str(path)


def pretrained_overrides() -> dict[str, object]:
    """``make_config`` overrides that start the tiny profile from the checkpoints."""
    return {
        "text.name_or_path": checkpoint_path(TEXT_CHECKPOINT),
        "text.pretrained": True,
        "audio.name_or_path": checkpoint_path(AUDIO_CHECKPOINT),
        "audio.pretrained": True,
    }
