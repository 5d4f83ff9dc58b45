"""A tiny "wav2vec2-960h": a wav2vec2 trained to recognise the phonemes of synthesised
speech.

wav2vec2-base-960h carries phonetic information because it was fine-tuned to transcribe
speech. Here the tiny wav2vec2 geometry learns the same thing directly: every frame of a
synthesised training clip is classified into the phoneme espeak was speaking at that
moment (:mod:`.phonemes` gives exact timings, so frame-wise cross-entropy replaces CTC's
search over alignments and converges in a few CPU minutes). The front end strides 640
samples (25 frames/s, wav2vec2 has 50), so each phoneme (about 80 ms) spans two frames;
the tiny profile's default front end (12.5 frames/s) would be too coarse for that.

Clips are random crops of :attr:`ASRSettings.crop_seconds` (the book feeds the encoder
the first 4 s of a clip). The result is a ``Wav2Vec2ForCTC`` checkpoint (its ``lm_head``
is the phoneme classifier, label 0 the padding/blank) with the phoneme inventory in
``vocab.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from mlcl_core.pretrain.phonemes import SAMPLE_RATE, frame_labels, spoken_phonemes

EMBEDDED_SIB200 = Path(__file__).resolve().parent.parent / "data" / "sib200"
PAD = "<pad>"


@dataclass(frozen=True)
class ASRSettings:
    """Everything the audio pre-training depends on (written into the provenance file).

    Args:
        languages: training-split languages of the embedded SIB-200 whose speech is used
            (default without Tibetan, as wav2vec2-960h never heard it).
        max_per_language: at most this many sentences per language (``None``: all 701).
        epochs, batch_size, lr, weight_decay: AdamW with linear decay to 0.
        crop_seconds: length of the random training crops.
        held_out: share of the clips kept aside to report frame accuracy.
        hidden_size, num_layers, num_heads, intermediate_size: the tiny transformer.
        conv_dim, conv_kernel, conv_stride: the front end (640 samples per frame).
        seed: seed of initialisation, crops and batches.
    """

    languages: tuple[str, ...] = ("eng_Latn", "zho_Hans", "mya_Mymr")
    max_per_language: int | None = None
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    crop_seconds: float = 4.0
    held_out: float = 0.05
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    conv_dim: tuple[int, ...] = (32, 32, 64, 64, 64)
    conv_kernel: tuple[int, ...] = (10, 4, 4, 4, 4)
    conv_stride: tuple[int, ...] = (5, 4, 4, 4, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("ASRSettings.languages must name at least one language")
        if self.epochs < 1 or self.batch_size < 1 or self.crop_seconds <= 0:
            raise ValueError("epochs, batch_size and crop_seconds must be positive")
        if not 0 <= self.held_out < 1:
            raise ValueError(f"held_out must be in [0, 1), got {self.held_out}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Clip(NamedTuple):
    """One synthesised training sentence: text, 16 kHz int16 wave, timed phonemes."""

    lang: str
    id: str
    text: str
    wave: np.ndarray
    phonemes: list[tuple[str, float]]


def training_clips(
    settings: ASRSettings, root: str | Path = EMBEDDED_SIB200
) -> list[Clip]:
    """Speak the training split (never dev or test) of ``settings.languages``."""
    clips = []
    for lang in settings.languages:
        path = Path(root) / lang / "train.tsv"
        if not path.is_file():
            raise FileNotFoundError(f"no training split {path}")
        table = pd.read_csv(path, sep="\t", quoting=3, dtype=str).head(
            settings.max_per_language
        )
        for sid, text in zip(table["index_id"], table["text"], strict=True):
            wave, timed = spoken_phonemes(text, lang)
            pcm = (np.clip(wave, -1, 1) * 32767).astype(
                np.int16
            )  # half the memory of float32
            clips.append(Clip(lang, str(sid), text, pcm, timed))
    return clips


def build_model(settings: ASRSettings, vocab: Sequence[str]):
    """A random-init ``Wav2Vec2ForCTC`` of the settings' geometry with one output per
    label: the encoders' own ``Wav2Vec2Config`` (:func:`mlcl_core.encoders.audio.
    wav2vec2_config`, so the checkpoint loads as the tiny audio encoder is built) plus
    the CTC head's vocabulary."""
    from transformers import Wav2Vec2ForCTC

    from mlcl_core.config import AudioEncoderConfig
    from mlcl_core.encoders.audio import wav2vec2_config

    geometry = AudioEncoderConfig(
        hidden_size=settings.hidden_size,
        num_layers=settings.num_layers,
        num_heads=settings.num_heads,
        intermediate_size=settings.intermediate_size,
        conv_dim=tuple(settings.conv_dim),
        conv_kernel=tuple(settings.conv_kernel),
        conv_stride=tuple(settings.conv_stride),
        feat_extract_norm="layer",
    )
    conf = wav2vec2_config(geometry)
    conf.vocab_size, conf.pad_token_id = len(vocab), 0
    conf.ctc_loss_reduction = "mean"
    return Wav2Vec2ForCTC(conf)


def _frame_centres(model, n_frames: int) -> np.ndarray:
    """Centre (seconds) of each frame's receptive field in the input crop."""
    conf = model.config
    stride = int(np.prod(conf.conv_stride))
    field, jump = 1, 1
    for k, s in zip(conf.conv_kernel, conf.conv_stride, strict=True):
        field, jump = field + (k - 1) * jump, jump * s
    return (np.arange(n_frames) * stride + field / 2) / SAMPLE_RATE


def _batch(
    model,
    clips: Sequence[Clip],
    index: dict[str, int],
    crop: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised crops (B, S), their sample mask (B, S) and frame labels (B, T) (-100:
    none)."""
    starts = [int(rng.integers(0, max(1, len(c.wave) - crop + 1))) for c in clips]
    pieces = [
        c.wave[s : s + crop].astype(np.float32) / 32768
        for c, s in zip(clips, starts, strict=True)
    ]
    longest = max(len(p) for p in pieces)
    wave, mask = (
        torch.zeros(len(clips), longest),
        torch.zeros(len(clips), longest, dtype=torch.long),
    )
    for j, p in enumerate(pieces):
        x = torch.from_numpy(p)
        wave[j, : len(x)] = (x - x.mean()) / torch.sqrt(
            x.var(unbiased=False) + 1e-7
        )  # as extract_features
        mask[j, : len(x)] = 1
    lengths = model.wav2vec2._get_feat_extract_output_lengths(mask.sum(1)).long()
    labels = torch.full((len(clips), int(lengths.max())), -100, dtype=torch.long)
    for j, (c, s) in enumerate(zip(clips, starts, strict=True)):
        n = int(lengths[j])
        names = frame_labels(c.phonemes, _frame_centres(model, n) + s / SAMPLE_RATE)
        labels[j, :n] = torch.tensor([index[name] for name in names])
    return wave, mask, labels


def _frame_loss(model, wave, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over labelled frames and the number of correct frames."""
    hidden = model.wav2vec2(wave, attention_mask=mask).last_hidden_state  # (B, T, D)
    logits = model.lm_head(model.dropout(hidden))[:, : labels.shape[1]]  # (B, T, V)
    keep = labels[:, : logits.shape[1]] != -100
    target = labels[:, : logits.shape[1]][keep]
    logits = logits[keep]
    return nn.functional.cross_entropy(logits, target), (
        logits.argmax(-1) == target
    ).sum()


def pretrain_asr(
    clips: Sequence[Clip], settings: ASRSettings, out_dir: str | Path
) -> dict:
    """Train the frame-wise phoneme recogniser on ``clips``; save it and ``vocab.json``.

    Returns the phoneme inventory size, seconds and per-epoch training loss and held-out
    frame accuracy (``curve``).
    """
    if not clips:
        raise ValueError("pretrain_asr needs at least one clip")
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    vocab = [PAD] + sorted({name for c in clips for name, _ in c.phonemes} | {"_"})
    index = {name: i for i, name in enumerate(vocab)}
    order = rng.permutation(len(clips))
    n_held = int(round(len(clips) * settings.held_out)) if len(clips) > 1 else 0
    held, train = [clips[i] for i in order[:n_held]], [clips[i] for i in order[n_held:]]
    model = build_model(settings, vocab)
    crop = int(settings.crop_seconds * SAMPLE_RATE)
    steps = settings.epochs * -(-len(train) // settings.batch_size)
    opt = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    curve = []
    for epoch in range(settings.epochs):
        model.train()
        perm, losses = rng.permutation(len(train)), []
        for b in range(0, len(train), settings.batch_size):
            batch = [train[i] for i in perm[b : b + settings.batch_size]]
            loss, _ = _frame_loss(model, *_batch(model, batch, index, crop, rng))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        curve.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "held_out_frame_accuracy": frame_accuracy(model, held, index, crop),
            }
        )
        print(f"  asr epoch {epoch + 1}/{settings.epochs}: {curve[-1]}", flush=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    (out_dir / "vocab.json").write_text(
        json.dumps(index, ensure_ascii=False, indent=0) + "\n"
    )
    return {
        "phonemes": len(vocab) - 1,
        "train_clips": len(train),
        "held_out_clips": len(held),
        "seconds": round(time.perf_counter() - start, 1),
        "curve": curve,
    }


@torch.no_grad()
def frame_accuracy(
    model, clips: Sequence[Clip], index: dict[str, int], crop: int
) -> float | None:
    """Share of frames of the first ``crop`` samples of ``clips`` classified as their
    phoneme."""
    if not clips:
        return None
    model.eval()
    rng = np.random.default_rng(0)
    correct = total = 0
    for b in range(0, len(clips), 16):
        part = [c._replace(wave=c.wave[:crop]) for c in clips[b : b + 16]]
        wave, mask, labels = _batch(model, part, index, crop, rng)
        _, right = _frame_loss(model, wave, mask, labels)
        correct, total = correct + int(right), total + int((labels != -100).sum())
    return correct / max(1, total)
