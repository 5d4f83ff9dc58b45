"""Batches of parallel sentences: text tokens and cached audio features for every language.

Speed comes from doing the fixed work once:

* :func:`audio_features` runs the *frozen* convolutional feature extractor of the audio
  encoder over the whole synthesised corpus once; every epoch then reuses its output (the
  extractor never changes, so recomputing it would only burn time);
* :class:`ParallelDataset` tokenises every text once, up front;
* :func:`make_loader` groups sentences of similar length into a batch (length bucketing), so
  little of a batch is padding, and shuffles deterministically from a seed.

A batch (see :func:`collate`) holds, for K languages and B sentences: ``ids`` (B,), ``langs``
(K,), ``y`` (B,), ``input_ids``/``attention_mask`` (K, B, L) and, with audio,
``audio_feats`` (K, B, T, C) with ``audio_mask`` (K, B, T).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlcl_core.storage import atomic_path

SAMPLE_RATE = 16_000
AudioKey = tuple[str, str]  # (lang, sentence id)


def audio_features(audio_encoder: Any, speech_table: pd.DataFrame, max_seconds: float, batch_size: int = 16,
                   load_wave: Callable[[str], np.ndarray] | None = None,
                   dtype: torch.dtype = torch.float32,
                   cache_dir: str | Path | None = None) -> dict[AudioKey, torch.Tensor]:
    """The frozen feature extractor's output for every clip of a synthesised corpus, computed once.

    Args:
        audio_encoder: has ``extract_features(wave (B, S), wave_mask (B, S)) -> (feats (B, T, C),
            feat_mask (B, T))`` (see ``mlcl_core.encoders``).
        speech_table: columns ``id``, ``lang``, ``path`` (and ``seconds``), as returned by
            ``mlcl_core.speech.synthesize_corpus``.
        max_seconds: clips are cropped to this length before feature extraction.
        batch_size: clips per extractor call; clips are sorted by length first so that a
            batch pads little.
        load_wave: path -> 16 kHz mono float waveform; default ``mlcl_core.speech.load_wave``.
        dtype: storage dtype of the cached features (float16 halves memory at paper scale).
        cache_dir: keep the result on disk here, keyed by the extractor's weights, the clips,
            ``max_seconds`` and ``dtype``; a later call with the same key (another chapter,
            another seed) loads it instead of recomputing. ``None``: no disk cache.

    Returns:
        ``{(lang, id): feats (T_i, C)}`` with T_i the unpadded number of frames of that clip.
    """
    if cache_dir is not None:
        path = Path(cache_dir).expanduser() / f"{_feature_key(audio_encoder, speech_table, max_seconds, dtype)}.pt"
        if path.is_file():
            try:
                stored = torch.load(path, weights_only=True)
                return {tuple(k.split("\t", 1)): v for k, v in zip(stored["keys"], stored["feats"])}
            except Exception:  # a truncated or foreign file: recompute and overwrite it
                pass
        feats = audio_features(audio_encoder, speech_table, max_seconds, batch_size, load_wave, dtype)
        with atomic_path(path) as tmp:
            torch.save({"keys": ["\t".join(k) for k in feats], "feats": list(feats.values())}, tmp)
        return feats
    missing = {"id", "lang", "path"} - set(speech_table.columns)
    if missing:
        raise ValueError(f"speech_table lacks columns {sorted(missing)}; it needs id, lang, path")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    if load_wave is None:
        from mlcl_core.speech import load_wave
    max_samples = int(round(max_seconds * SAMPLE_RATE))
    rows = list(speech_table[["lang", "id", "path"]].itertuples(index=False, name=None))
    # Read every clip first (cheap) so that the expensive extractor sees length-sorted batches.
    waves = [np.asarray(load_wave(path), dtype=np.float32)[:max_samples] for _, _, path in rows]
    order = sorted(range(len(rows)), key=lambda i: len(waves[i]))
    feats_by_key: dict[AudioKey, torch.Tensor] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        wave, wave_mask = _pad_waves([waves[i] for i in chunk])  # (b, S)
        with torch.no_grad():
            feats, feat_mask = audio_encoder.extract_features(wave, wave_mask)  # (b, T, C), (b, T)
        for j, i in enumerate(chunk):
            lang, sid, _ = rows[i]
            n_frames = int(feat_mask[j].sum())
            feats_by_key[(str(lang), str(sid))] = feats[j, :n_frames].detach().to("cpu", dtype).clone()
    return feats_by_key


def _feature_key(audio_encoder: Any, speech_table: pd.DataFrame, max_seconds: float, dtype: torch.dtype) -> str:
    """Content hash of everything the extracted features depend on."""
    h = hashlib.sha256(f"{max_seconds}|{dtype}|".encode())
    for name, tensor in sorted(audio_encoder.backbone.feature_extractor.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(repr(getattr(audio_encoder.backbone.config, "feat_extract_norm", "")).encode())
    for lang, sid, path in speech_table[["lang", "id", "path"]].itertuples(index=False, name=None):
        h.update(f"{lang}\t{sid}\t{Path(path).name}\n".encode())  # cache file names are content hashes
    return h.hexdigest()[:32]


def _pad_waves(waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad waveforms with zeros: (B, S) floats and a (B, S) bool mask of real samples."""
    longest = max(max(len(w) for w in waves), 1)
    wave = torch.zeros(len(waves), longest)
    mask = torch.zeros(len(waves), longest, dtype=torch.bool)
    for j, w in enumerate(waves):
        wave[j, :len(w)] = torch.from_numpy(w)
        mask[j, :len(w)] = True
    return wave, mask


class ParallelDataset(Dataset):
    """One split of a parallel corpus: per sentence, its tokens (and audio features) in every language.

    Args:
        corpus: a :class:`mlcl_core.corpora.Corpus`.
        split: ``train``, ``dev`` or ``test``.
        tokenizer: a Hugging Face (fast) tokenizer; texts are tokenised once, here.
        languages: language codes, in the order of the batch's K axis.
        max_text_len: tokens per text, [CLS] and [SEP] included (longer texts are truncated).
        audio_feats: ``{(lang, id): (T, C)}`` from :func:`audio_features`, or ``None`` for text only.
    """

    def __init__(self, corpus: Any, split: str, tokenizer: Any, languages: Sequence[str], max_text_len: int,
                 audio_feats: Mapping[AudioKey, torch.Tensor] | None = None) -> None:
        languages = tuple(languages)
        unknown = [lang for lang in languages if lang not in corpus.languages]
        if not languages or unknown:
            raise ValueError(f"languages {unknown or '()'} not in corpus {corpus.name!r}; it has {corpus.languages}")
        table = corpus.split(split)
        if len(table) == 0:
            raise ValueError(f"split {split!r} of corpus {corpus.name!r} is empty")
        self.languages = languages
        self.ids = [str(i) for i in table["id"]]
        self.y = torch.tensor(corpus.label_ids(split), dtype=torch.long)
        self.pad_id = int(tokenizer.pad_token_id)
        self.tokens = {lang: tokenizer(list(table[lang]), truncation=True, max_length=max_text_len,
                                       add_special_tokens=True)["input_ids"] for lang in languages}
        self.audio = None
        if audio_feats is not None:
            absent = [(lang, sid) for lang in languages for sid in self.ids if (lang, sid) not in audio_feats]
            if absent:
                raise ValueError(f"{len(absent)} (lang, id) pairs of split {split!r} have no audio features, "
                                 f"e.g. {absent[:3]}; synthesise speech for these languages first")
            self.audio = {lang: [audio_feats[(lang, sid)] for sid in self.ids] for lang in languages}

    def __len__(self) -> int:
        return len(self.ids)

    def length(self, i: int) -> int:
        """Padding cost of sentence i: its audio frames when audio is present (they dominate), else tokens."""
        if self.audio is not None:
            return max(self.audio[lang][i].shape[0] for lang in self.languages)
        return max(len(self.tokens[lang][i]) for lang in self.languages)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"id": self.ids[i], "y": self.y[i], "langs": self.languages, "pad_id": self.pad_id,
                "input_ids": [self.tokens[lang][i] for lang in self.languages]}
        if self.audio is not None:
            item["audio_feats"] = [self.audio[lang][i] for lang in self.languages]
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of :class:`ParallelDataset` items into one batch (see the module docstring)."""
    langs = items[0]["langs"]
    k, b = len(langs), len(items)
    max_len = max(len(ids) for it in items for ids in it["input_ids"])
    input_ids = torch.full((k, b, max_len), items[0]["pad_id"], dtype=torch.long)  # (K, B, L)
    attention_mask = torch.zeros(k, b, max_len, dtype=torch.long)  # (K, B, L)
    for j, it in enumerate(items):
        for x, ids in enumerate(it["input_ids"]):
            input_ids[x, j, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[x, j, :len(ids)] = 1
    batch = {"ids": [it["id"] for it in items], "langs": tuple(langs), "y": torch.stack([it["y"] for it in items]),
             "input_ids": input_ids, "attention_mask": attention_mask}
    if "audio_feats" in items[0]:
        first = items[0]["audio_feats"][0]
        max_t = max(f.shape[0] for it in items for f in it["audio_feats"])
        feats = torch.zeros(k, b, max_t, first.shape[1], dtype=first.dtype)  # (K, B, T, C)
        mask = torch.zeros(k, b, max_t, dtype=torch.bool)  # (K, B, T)
        for j, it in enumerate(items):
            for x, f in enumerate(it["audio_feats"]):
                feats[x, j, :f.shape[0]] = f
                mask[x, j, :f.shape[0]] = True
        batch["audio_feats"], batch["audio_mask"] = feats, mask
    return batch


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length sentences, in an order fixed by (seed, epoch).

    Shuffled: indices are shuffled, cut into pools of ``pool_batches`` batches, each pool is
    sorted by length and cut into batches, and the batches are shuffled. Not shuffled: one
    pass in corpus order (evaluation keeps its order; the padding cost is small there).

    The epoch advances by itself at every new iteration; ``set_epoch`` pins it (for resuming a
    run at a given epoch with the same batches).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int,
                 pool_batches: int = 50, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.pool_batches, self.drop_last = pool_batches, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch`` (a pure function of seed, epoch and the lengths)."""
        n = len(self.lengths)
        if not self.shuffle:
            out = [list(range(s, min(s + self.batch_size, n))) for s in range(0, n, self.batch_size)]
        else:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=g).tolist()
            pool = self.batch_size * self.pool_batches
            out = []
            for s in range(0, n, pool):
                chunk = sorted(perm[s:s + pool], key=lambda i: self.lengths[i])
                out += [chunk[t:t + self.batch_size] for t in range(0, len(chunk), self.batch_size)]
            out = [out[i] for i in torch.randperm(len(out), generator=g).tolist()]
        if self.drop_last:
            out = [bt for bt in out if len(bt) == self.batch_size]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.epoch += 1
        return iter(self.batches(epoch))

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def make_loader(dataset: ParallelDataset, batch_size: int, shuffle: bool, seed: int = 0,
                drop_last: bool | None = None) -> DataLoader:
    """A deterministic, length-bucketed DataLoader over a :class:`ParallelDataset`.

    When shuffling (training), a last batch of one sentence is dropped by default: NT-Xent needs
    at least two pairs. ``loader.batch_sampler.set_epoch(e)`` reproduces epoch e's batches.
    """
    if drop_last is None:
        drop_last = shuffle and len(dataset) % batch_size == 1
    lengths = [dataset.length(i) for i in range(len(dataset))]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle, seed, drop_last=drop_last)
    # Features are in memory and tokenised already: worker processes would only add overhead.
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)
