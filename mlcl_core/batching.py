"""Batches of parallel sentences: text tokens and cached audio features for every
language.

Speed comes from doing the fixed work once:

* the frozen feature extractor's output is computed once per corpus
  (:mod:`mlcl_core.features`) and only looked up here;
* :class:`ParallelDataset` tokenises every text once, up front;
* :func:`make_loader` groups sentences of similar length into a batch (length
  bucketing), so little of a batch is padding, and shuffles deterministically from a
  seed.

:func:`make_loaders` builds the loaders of the three splits from a config, the one way
every system and chapter gets them. A batch (see :func:`collate`) holds, for K languages
and B sentences: ``ids`` (B,), ``langs`` (K,), ``y`` (B,), ``input_ids``/
``attention_mask`` (K, B, L) and, with audio, ``audio_feats`` (K, B, T, C) with
``audio_mask`` (K, B, T) and ``audio_keys`` (K*B clip keys, language-major:
:func:`mlcl_core.features.clip_key`, hashed once per clip). :func:`by_language`
regroups a loader's audio per language for the adapter stage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlcl_core.config import ExperimentConfig
from mlcl_core.corpora import SPLITS, Corpus
from mlcl_core.features import AudioKey, clip_key
from mlcl_core.padding import pad

#: One language's audio of a batch, as the adapter stage trains on it:
#: feats (B, T, C), feat_mask (B, T), y (B,).
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ParallelDataset(Dataset):
    """One split of a parallel corpus: per sentence, its tokens (and audio features) in
    every language.

    Args:
        corpus: a :class:`mlcl_core.corpora.Corpus`.
        split: ``train``, ``dev`` or ``test``.
        tokenizer: a Hugging Face (fast) tokenizer; texts are tokenised once, here.
        languages: language codes, in the order of the batch's K axis.
        max_text_len: tokens per text, [CLS] and [SEP] included (longer texts are
        truncated).
        audio_feats: ``{(lang, id): (T, C)}`` from :mod:`mlcl_core.features`, or
            ``None`` for text only.
    """

    def __init__(
        self,
        corpus: Corpus,
        split: str,
        tokenizer: Any,
        languages: Sequence[str],
        max_text_len: int,
        audio_feats: Mapping[AudioKey, torch.Tensor] | None = None,
    ) -> None:
        languages = tuple(languages)
        unknown = [lang for lang in languages if lang not in corpus.languages]
        if not languages or unknown:
            raise ValueError(
                f"languages {unknown or '()'} not in corpus {corpus.name!r}; it has "
                f"{corpus.languages}"
            )
        table = corpus.split(split)
        if len(table) == 0:
            raise ValueError(f"split {split!r} of corpus {corpus.name!r} is empty")
        self.languages = languages
        self.ids = [str(i) for i in table["id"]]
        self.y = torch.tensor(corpus.label_ids(split), dtype=torch.long)
        self.pad_id = int(tokenizer.pad_token_id)
        self.tokens = {
            lang: tokenizer(
                list(table[lang]),
                truncation=True,
                max_length=max_text_len,
                add_special_tokens=True,
            )["input_ids"]
            for lang in languages
        }
        self.audio = None
        if audio_feats is not None:
            absent = [
                (lang, sid)
                for lang in languages
                for sid in self.ids
                if (lang, sid) not in audio_feats
            ]
            if absent:
                raise ValueError(
                    f"{len(absent)} (lang, id) pairs of split {split!r} have no audio "
                    "features, "
                    f"e.g. {absent[:3]}; synthesise speech for these languages first"
                )
            self.audio = {
                lang: [audio_feats[(lang, sid)] for sid in self.ids]
                for lang in languages
            }
            # each clip's content key, hashed on first use (features.clip_key)
            self.audio_keys: dict[str, list[bytes | None]] = {
                lang: [None] * len(self.ids) for lang in languages
            }

    def __len__(self) -> int:
        return len(self.ids)

    def length(self, i: int) -> int:
        """Padding cost of sentence i: its audio frames when audio is present (they
        dominate), else tokens."""
        if self.audio is not None:
            return max(self.audio[lang][i].shape[0] for lang in self.languages)
        return max(len(self.tokens[lang][i]) for lang in self.languages)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {
            "id": self.ids[i],
            "y": self.y[i],
            "langs": self.languages,
            "pad_id": self.pad_id,
            "input_ids": [self.tokens[lang][i] for lang in self.languages],
        }
        if self.audio is not None:
            item["audio_feats"] = [self.audio[lang][i] for lang in self.languages]
            item["audio_keys"] = [self._audio_key(lang, i) for lang in self.languages]
        return item

    def _audio_key(self, lang: str, i: int) -> bytes:
        """The :func:`~mlcl_core.features.clip_key` of sentence i's clip in ``lang``
        (computed once per clip and process)."""
        keys = self.audio_keys[lang]
        if keys[i] is None:
            keys[i] = clip_key(self.audio[lang][i])
        return keys[i]


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of :class:`ParallelDataset` items into one batch (see the module
    docs)."""
    langs = items[0]["langs"]
    k, b = len(langs), len(items)
    # Language-major: row x * b + j is language x of sentence j, so (K*B, ...) -> (K, B,
    # ...).
    tokens = [it["input_ids"][x] for x in range(k) for it in items]
    input_ids, mask = pad(tokens, value=items[0]["pad_id"], dtype=torch.long)
    # (K, B, L)
    batch = {
        "ids": [it["id"] for it in items],
        "langs": tuple(langs),
        "y": torch.stack([it["y"] for it in items]),
        "input_ids": input_ids.view(k, b, -1),  # (K, B, L)
        "attention_mask": mask.long().view(k, b, -1),
    }
    if "audio_feats" in items[0]:
        feats, frames = pad([it["audio_feats"][x] for x in range(k) for it in items])
        batch["audio_feats"] = feats.view(k, b, *feats.shape[1:])  # (K, B, T, C)
        batch["audio_mask"] = frames.view(k, b, -1)  # (K, B, T)
        # every row's clip_key, language-major like the rows (K*B,)
        batch["audio_keys"] = [it["audio_keys"][x] for x in range(k) for it in items]
    return batch


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length sentences, in an order fixed by (seed, epoch).

    Shuffled: indices are shuffled, cut into pools of ``pool_batches`` batches, each
    pool is
    sorted by length and cut into batches, and the batches are shuffled. Not shuffled:
    one pass in corpus order (evaluation keeps its order; the padding cost is small
    there).

    The epoch advances by itself at every new iteration; ``set_epoch`` pins it (for
    resuming a run at a given epoch with the same batches)."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int,
        pool_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
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
            out = [
                list(range(s, min(s + self.batch_size, n)))
                for s in range(0, n, self.batch_size)
            ]
        else:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=g).tolist()
            pool = self.batch_size * self.pool_batches
            out = []
            for s in range(0, n, pool):
                chunk = sorted(perm[s : s + pool], key=lambda i: self.lengths[i])
                out += [
                    chunk[t : t + self.batch_size]
                    for t in range(0, len(chunk), self.batch_size)
                ]
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
        return (
            n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        )


def make_loader(
    dataset: ParallelDataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    drop_last: bool | None = None,
) -> DataLoader:
    """A deterministic, length-bucketed DataLoader over a :class:`ParallelDataset`.

    When shuffling (training), a last batch of one sentence is dropped by default:
    NT-Xent needs at least two pairs. ``loader.batch_sampler.set_epoch(e)`` reproduces
    epoch e's batches."""
    if drop_last is None:
        drop_last = shuffle and len(dataset) % batch_size == 1
    lengths = [dataset.length(i) for i in range(len(dataset))]
    sampler = BucketBatchSampler(
        lengths, batch_size, shuffle, seed, drop_last=drop_last
    )
    # Features are in memory and tokenised already: worker processes would only add
    # overhead.
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)


def make_loaders(
    cfg: ExperimentConfig,
    corpus: Corpus,
    tokenizer: Any,
    feats: Mapping[AudioKey, torch.Tensor] | None = None,
    languages: Sequence[str] | None = None,
) -> dict[str, DataLoader]:
    """``{split: DataLoader}`` for train (shuffled), dev and test, as ``cfg`` describes.

    ``languages`` defaults to ``cfg.data.languages`` (BERT-Unique passes one language);
    ``feats`` adds the cached audio features (MLCL), ``None`` gives text-only batches.
    """
    languages = tuple(languages or cfg.data.languages)
    return {
        split: make_loader(
            ParallelDataset(
                corpus, split, tokenizer, languages, cfg.data.max_text_len, feats
            ),
            cfg.train.batch_size,
            shuffle=split == "train",
            seed=cfg.train.seed,
        )
        for split in SPLITS
    }


def in_order(loader: DataLoader) -> DataLoader:
    """The same dataset and batch size, one pass in corpus order (to inspect a
    split)."""
    return make_loader(loader.dataset, loader.batch_sampler.batch_size, shuffle=False)


def by_language(batches: Iterable[dict[str, Any]]) -> dict[str, list[Batch]]:
    """Audio of every batch regrouped per language: ``lang -> [(feats, feat_mask, y)]``.

    What the adapter stage (:func:`mlcl_core.adapters.prepare_adapters`) trains on: each
    language's clips of the same sentences, in the loader's order.
    """
    out: dict[str, list[Batch]] = {}
    for batch in batches:
        if "audio_feats" not in batch:
            raise ValueError("by_language needs audio: build the loaders with feats")
        for x, lang in enumerate(batch["langs"]):
            out.setdefault(lang, []).append(
                (batch["audio_feats"][x], batch["audio_mask"][x], batch["y"])
            )
    return out
