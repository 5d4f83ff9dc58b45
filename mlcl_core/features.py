"""Frozen feature extraction over a whole synthesised corpus, and its on-disk cache.

A pipeline step of its own, between speech and batches: the audio encoder's
convolutional feature extractor is frozen, so its output for every clip is computed once
(:func:`corpus_features`) and every epoch, seed and chapter reuses it. The result is
kept on disk keyed by everything it depends on (the extractor's weights, the clips,
``max_seconds``, the dtype), so a later run with the same key loads it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import Corpus
from mlcl_core.padding import pad
from mlcl_core.runtime import autocast
from mlcl_core.speech import SAMPLE_RATE
from mlcl_core.speech import load_wave as speech_load_wave
from mlcl_core.storage import atomic_path

AudioKey = tuple[str, str]  # (lang, sentence id)


def check_speech(
    cfg: ExperimentConfig, corpus: Corpus, speech_table: pd.DataFrame
) -> None:
    """The speech table holds a clip for every sentence and language of ``cfg``."""
    for col in ("id", "lang", "path"):
        if col not in speech_table.columns:
            raise ValueError(
                f"speech table lacks column {col!r}; use "
                "mlcl_core.speech.synthesize_corpus"
            )
    langs = cfg.data.languages
    have = set(speech_table["lang"])
    missing = [lang for lang in langs if lang not in have]
    if missing:
        raise ValueError(
            f"languages {missing} have no speech in the speech table (it has "
            f"{sorted(have)}); synthesise them first"
        )
    ids = {str(i) for i in corpus.table["id"]}
    for lang in langs:
        got = {str(i) for i in speech_table.loc[speech_table["lang"] == lang, "id"]}
        if not ids <= got:
            raise ValueError(
                f"{len(ids - got)} sentences of {lang} have no speech in the "
                f"speech table, e.g. ids {sorted(ids - got)[:3]}"
            )


def corpus_features(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: pd.DataFrame,
    audio_encoder: Any,
    load_wave: Callable[[str], np.ndarray] | None = None,
    device: torch.device | str | None = None,
) -> dict[AudioKey, torch.Tensor]:
    """The cached features of every clip of ``corpus`` in ``cfg``'s languages.

    Checks the speech table first (:func:`check_speech`), keeps only the clips of this
    corpus and these languages, and runs :func:`audio_features` with ``cfg.speech``'s
    ``max_seconds`` and ``feature_cache_dir``, on ``device`` (the trainer's, e.g.
    ``resolve_device(cfg.train.device)``) with ``cfg.train.bf16``'s autocast. Returns
    ``{(lang, id): (T_i, C)}``.
    """
    check_speech(cfg, corpus, speech_table)
    ids = set(corpus.table["id"].astype(str))
    wanted = speech_table["lang"].isin(cfg.data.languages) & speech_table["id"].astype(
        str
    ).isin(ids)
    return audio_features(
        audio_encoder,
        speech_table[wanted],
        cfg.speech.max_seconds,
        load_wave=load_wave,
        cache_dir=cfg.speech.feature_cache_dir,
        device=device,
        bf16=cfg.train.bf16,
    )


def audio_features(
    audio_encoder: Any,
    speech_table: pd.DataFrame,
    max_seconds: float,
    batch_size: int = 16,
    load_wave: Callable[[str], np.ndarray] | None = None,
    dtype: torch.dtype = torch.float32,
    cache_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    bf16: bool = False,
) -> dict[AudioKey, torch.Tensor]:
    """The frozen feature extractor's output for every clip of a synthesised corpus,
    computed once.

    Args:
        audio_encoder: has ``extract_features(wave (B, S), wave_mask (B, S)) -> (feats
            (B, T, C), feat_mask (B, T))`` (see ``mlcl_core.encoders``).
        speech_table: columns ``id``, ``lang``, ``path`` (and ``seconds``), as returned
            by ``mlcl_core.speech.synthesize_corpus``.
        max_seconds: clips are cropped to this length before feature extraction.
        batch_size: clips per extractor call; clips are sorted by length first so that a
            batch pads little.
        load_wave: path -> 16 kHz mono float waveform; default
        ``mlcl_core.speech.load_wave``.
        dtype: storage dtype of the cached features (float16 halves memory at paper
        scale).
        cache_dir: keep the result on disk here, keyed by the extractor's weights, the
            clips, ``max_seconds`` and ``dtype``; a later call with the same key
            (another chapter, another seed) loads it instead of recomputing. ``None``:
            no disk cache.
        device: run the extractor there (the encoder is moved there first); ``None``:
            where the encoder already is.
        bf16: bf16 autocast on CUDA only, as in the trainer; part of the cache key when
            it takes effect.

    Returns:
        ``{(lang, id): feats (T_i, C)}`` with T_i the unpadded number of frames of that
        clip.
    """
    device = _placed(audio_encoder, device)
    if cache_dir is not None:
        # bf16 only changes the features on CUDA: the fp32 key stays as it was
        tag = "|bf16" if bf16 and device.type == "cuda" else ""
        key = _feature_key(audio_encoder, speech_table, f"{max_seconds}{tag}", dtype)
        path = Path(cache_dir).expanduser() / f"{key}.pt"
        if path.is_file():
            try:
                stored = torch.load(path, weights_only=True)
                return {
                    tuple(k.split("\t", 1)): v
                    for k, v in zip(stored["keys"], stored["feats"])
                }
            except Exception:  # a truncated or foreign file: recompute and overwrite it
                pass
        feats = audio_features(
            audio_encoder,
            speech_table,
            max_seconds,
            batch_size,
            load_wave,
            dtype,
            device=device,
            bf16=bf16,
        )
        with atomic_path(path) as tmp:
            torch.save(
                {"keys": ["\t".join(k) for k in feats], "feats": list(feats.values())},
                tmp,
            )
        return feats
    missing = {"id", "lang", "path"} - set(speech_table.columns)
    if missing:
        raise ValueError(
            f"speech_table lacks columns {sorted(missing)}; it needs id, lang, path"
        )
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    load_wave = load_wave or speech_load_wave
    max_samples = int(round(max_seconds * SAMPLE_RATE))
    rows = list(speech_table[["lang", "id", "path"]].itertuples(index=False, name=None))
    # Read every clip first (cheap) so that the expensive extractor sees length-sorted
    # batches.
    waves = [
        np.asarray(load_wave(path), dtype=np.float32)[:max_samples]
        for _, _, path in rows
    ]
    order = sorted(range(len(rows)), key=lambda i: len(waves[i]))
    feats_by_key: dict[AudioKey, torch.Tensor] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        # (b, S)
        wave, wave_mask = pad([waves[i] for i in chunk], min_len=1, dtype=torch.float32)
        with torch.no_grad(), autocast(device, bf16):
            # (b, T, C), (b, T)
            feats, feat_mask = audio_encoder.extract_features(
                wave.to(device), wave_mask.to(device)
            )
        for j, i in enumerate(chunk):
            lang, sid, _ = rows[i]
            n_frames = int(feat_mask[j].sum())
            feats_by_key[(str(lang), str(sid))] = (
                feats[j, :n_frames].detach().to("cpu", dtype).clone()
            )
    return feats_by_key


def _placed(audio_encoder: Any, device: torch.device | str | None) -> torch.device:
    """Move the encoder to ``device``; without one, the device its weights are on."""
    if device is not None:
        audio_encoder.to(device)
        return torch.device(device)
    params = getattr(audio_encoder, "parameters", None)
    first = next(iter(params()), None) if params is not None else None
    return first.device if first is not None else torch.device("cpu")


def _feature_key(
    audio_encoder: Any,
    speech_table: pd.DataFrame,
    max_seconds: float | str,
    dtype: torch.dtype,
) -> str:
    """Content hash of everything the extracted features depend on."""
    h = hashlib.sha256(f"{max_seconds}|{dtype}|".encode())
    for name, tensor in sorted(
        audio_encoder.backbone.feature_extractor.state_dict().items()
    ):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(
        repr(getattr(audio_encoder.backbone.config, "feat_extract_norm", "")).encode()
    )
    for lang, sid, path in speech_table[["lang", "id", "path"]].itertuples(
        index=False, name=None
    ):
        # cache file names are content hashes
        h.update(f"{lang}\t{sid}\t{Path(path).name}\n".encode())
    return h.hexdigest()[:32]
