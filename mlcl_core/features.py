"""Frozen feature extraction over a whole synthesised corpus, and its on-disk cache.

A pipeline step of its own, between speech and batches: the audio encoder's
convolutional feature extractor is frozen, so its output for every clip is computed once
(:func:`corpus_features`) and every epoch, seed and chapter reuses it. Each clip runs
through the extractor alone, so its features depend on the clip only; the disk cache
keeps them per clip in a folder keyed by everything else they depend on (the
extractor's weights, ``max_seconds``, the dtype). A later run loads the clips stored
there, whichever run stored them (a ``train_sentences`` subset reads the full corpus's),
and extracts only the others."""

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


def clip_key(feats: torch.Tensor) -> bytes:
    """A content key of one clip's cached features (T, C): a 16-byte hash of their
    shape, dtype and values. The frozen audio prefix (:mod:`mlcl_core.encoders.frozen`)
    stores a clip's states under it; :class:`mlcl_core.batching.ParallelDataset` hashes
    each clip once and hands the keys on with its batches (``audio_keys``)."""
    data = feats.detach().cpu().contiguous()
    return hashlib.blake2b(
        f"{tuple(data.shape)}{data.dtype}".encode() + data.numpy().tobytes(),
        digest_size=16,
    ).digest()


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
    load_wave: Callable[[str], np.ndarray] | None = None,
    dtype: torch.dtype = torch.float32,
    cache_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    bf16: bool = False,
) -> dict[AudioKey, torch.Tensor]:
    """The frozen feature extractor's output for every clip of a synthesised corpus,
    computed once per clip.

    Every clip goes through the extractor alone, unpadded: its features are then a
    function of the clip only, not of which other clips share its batch (padding
    changes a padded row in the last bits), so the cache can keep them per clip and a
    subset of a corpus (``DataConfig.train_sentences``) reads the clips the full corpus
    stored instead of extracting them again. One clip at a time costs about what
    length-sorted batches of 16 did on a CPU (the convolutions dominate either way).

    Args:
        audio_encoder: has ``extract_features(wave (B, S), wave_mask (B, S)) -> (feats
            (B, T, C), feat_mask (B, T))`` (see ``mlcl_core.encoders``).
        speech_table: columns ``id``, ``lang``, ``path`` (and ``seconds``), as returned
            by ``mlcl_core.speech.synthesize_corpus``.
        max_seconds: clips are cropped to this length before feature extraction.
        load_wave: path -> 16 kHz mono float waveform; default
            ``mlcl_core.speech.load_wave``.
        dtype: storage dtype of the cached features (float16 halves memory at paper
            scale).
        cache_dir: keep the features on disk here, per clip, in a folder keyed by the
            extractor's weights, ``max_seconds`` and ``dtype``; a later call (another
            chapter, seed or subset) loads the clips stored there and extracts only
            the others. ``None``: no disk cache.
        device: run the extractor there (the encoder is moved there first); ``None``:
            where the encoder already is.
        bf16: bf16 autocast on CUDA only, as in the trainer; part of the cache key when
            it takes effect.

    Returns:
        ``{(lang, id): feats (T_i, C)}`` with T_i the unpadded number of frames of that
        clip.
    """
    missing = {"id", "lang", "path"} - set(speech_table.columns)
    if missing:
        raise ValueError(
            f"speech_table lacks columns {sorted(missing)}; it needs id, lang, path"
        )
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    device = _placed(audio_encoder, device)
    clips = {
        (str(lang), str(sid)): str(path)
        for lang, sid, path in speech_table[["lang", "id", "path"]].itertuples(
            index=False, name=None
        )
    }
    store = None
    if cache_dir is not None:
        # bf16 only changes the features on CUDA: the fp32 key stays as it was
        tag = "|bf16" if bf16 and device.type == "cuda" else ""
        key = _feature_key(audio_encoder, f"{max_seconds}{tag}", dtype)
        store = Path(cache_dir).expanduser() / f"clips2-{key}"
    names = {k: _clip_name(k, path) for k, path in clips.items()}
    stored = _read_clips(store, set(names.values())) if store is not None else {}
    todo = {k: path for k, path in clips.items() if names[k] not in stored}
    new = _extract(audio_encoder, todo, max_seconds, load_wave, dtype, device, bf16)
    if store is not None and new:
        _write_clips(store, {names[k]: f for k, f in new.items()})
    return {k: new[k] if k in new else stored[names[k]] for k in clips}


def _extract(
    audio_encoder: Any,
    clips: dict[AudioKey, str],
    max_seconds: float,
    load_wave: Callable[[str], np.ndarray] | None,
    dtype: torch.dtype,
    device: torch.device,
    bf16: bool,
) -> dict[AudioKey, torch.Tensor]:
    """Run the extractor on every clip alone (cropped to ``max_seconds``) on
    ``device``: ``{(lang, id): (T_i, C)}`` on the CPU in ``dtype``."""
    load_wave = load_wave or speech_load_wave
    max_samples = int(round(max_seconds * SAMPLE_RATE))
    out: dict[AudioKey, torch.Tensor] = {}
    for key, path in clips.items():
        wave = np.asarray(load_wave(path), dtype=np.float32)[:max_samples]
        # (1, S)
        wave_t, wave_mask = pad([wave], min_len=1, dtype=torch.float32)
        with torch.no_grad(), autocast(device, bf16):
            # (1, T, C), (1, T)
            feats, feat_mask = audio_encoder.extract_features(
                wave_t.to(device), wave_mask.to(device)
            )
        n_frames = int(feat_mask[0].sum())
        out[key] = feats[0, :n_frames].detach().to("cpu", dtype).clone()
    return out


def _clip_name(key: AudioKey, path: str) -> str:
    """A clip's name in the cache: language, id and the audio file's name (speech
    cache file names are content hashes)."""
    return f"{key[0]}\t{key[1]}\t{Path(path).name}"


def _read_clips(store: Path, wanted: set[str]) -> dict[str, torch.Tensor]:
    """The features of the ``wanted`` clips that the files in ``store`` hold.

    A file holds its clips' frames as one (sum T_i, C) tensor, memory-mapped, so only
    the wanted clips are read. A truncated or foreign file is skipped: its clips count
    as missing and are extracted again."""
    found: dict[str, torch.Tensor] = {}
    for path in sorted(store.glob("*.pt")) if store.is_dir() else []:
        if len(found) == len(wanted):
            break
        try:
            held = torch.load(path, weights_only=True, mmap=True)
            ends = held["lengths"].cumsum(0).tolist()
            for name, end, n in zip(
                held["clips"], ends, held["lengths"].tolist(), strict=True
            ):
                if name in wanted and name not in found:
                    found[name] = held["frames"][end - n : end].clone()
        except Exception:  # noqa: S112 - a broken file is recomputed, not trusted
            continue
    return found


def _write_clips(store: Path, feats: dict[str, torch.Tensor]) -> None:
    """Add ``feats`` to ``store`` as one file named after its clips (written
    atomically, so a reader never sees half a file; the same clips extracted again
    replace it). The frames of all its clips are one tensor: one storage to load."""
    name = hashlib.sha256("\n".join(sorted(feats)).encode()).hexdigest()[:32]
    lengths = torch.tensor([f.shape[0] for f in feats.values()], dtype=torch.long)
    with atomic_path(store / f"{name}.pt") as tmp:
        torch.save(
            {
                "clips": list(feats),
                "lengths": lengths,
                "frames": torch.cat(list(feats.values())),
            },
            tmp,
        )


def _placed(audio_encoder: Any, device: torch.device | str | None) -> torch.device:
    """Move the encoder to ``device``; without one, the device its weights are on."""
    if device is not None:
        audio_encoder.to(device)
        return torch.device(device)
    params = getattr(audio_encoder, "parameters", None)
    first = next(iter(params()), None) if params is not None else None
    return first.device if first is not None else torch.device("cpu")


def _feature_key(
    audio_encoder: Any, max_seconds: float | str, dtype: torch.dtype
) -> str:
    """Content hash of everything a clip's features depend on besides the clip: the
    extractor's weights and normalisation, the crop length and the storage dtype."""
    h = hashlib.sha256(f"{max_seconds}|{dtype}|".encode())
    for name, tensor in sorted(
        audio_encoder.backbone.feature_extractor.state_dict().items()
    ):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(
        repr(getattr(audio_encoder.backbone.config, "feat_extract_norm", "")).encode()
    )
    return h.hexdigest()[:32]
