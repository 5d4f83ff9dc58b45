"""The speed benchmark's naive MLCL step: raw audio through all of wav2vec2 each step.

:class:`NaiveMLCL` wraps an :class:`mlcl_core.model.MLCLModel` and, on every forward,
runs the frozen convolutional feature extractor on the batch's raw waveforms (one
language after the other) before the model's own forward: what a straightforward
implementation of the paper does, and what the feature cache of
``mlcl_core.features.audio_features`` saves. Given the same clips, its features equal
the cached ones (both come from ``AudioEncoder.extract_features``), so its loss equals
the project's up to float noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from mlcl_core.batching import collate


class WaveDataset(Dataset):
    """A ParallelDataset's items with raw (cropped) waveforms instead of features."""

    def __init__(
        self,
        ds: Any,
        table: pd.DataFrame,
        load_wave: Callable[[str], np.ndarray],
        max_seconds: float,
    ) -> None:
        self.ds = ds
        self.paths = {(r.lang, str(r.id)): r.path for r in table.itertuples()}
        self.load_wave, self.max_samples = load_wave, int(round(max_seconds * 16_000))

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.ds[i])
        item.pop("audio_feats", None)
        item["waves"] = [
            self.load_wave(self.paths[(lang, item["id"])])[: self.max_samples]
            for lang in item["langs"]
        ]
        return item


def collate_waves(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """:func:`mlcl_core.batching.collate` plus ``waves`` and ``wave_mask`` (K, B, S)."""
    batch = collate([{k: v for k, v in it.items() if k != "waves"} for it in items])
    k, b = len(items[0]["waves"]), len(items)
    longest = max(len(w) for it in items for w in it["waves"])
    waves = torch.zeros(k, b, longest)
    mask = torch.zeros(k, b, longest, dtype=torch.bool)
    for j, it in enumerate(items):
        for x, w in enumerate(it["waves"]):
            waves[x, j, : len(w)] = torch.from_numpy(w)
            mask[x, j, : len(w)] = True
    batch["waves"], batch["wave_mask"] = waves, mask
    return batch


class NaiveMLCL(nn.Module):
    """An MLCL model fed raw waveforms: feature extraction in every training step."""

    def __init__(self, mlcl: nn.Module) -> None:
        super().__init__()
        self.mlcl = mlcl

    def adapter_parameters(self) -> list[nn.Parameter]:
        return self.mlcl.adapter_parameters()

    def forward(self, batch: dict[str, Any]):
        encoder = self.mlcl.audio_encoder
        feats, masks = [], []
        for x in range(batch["waves"].shape[0]):  # one language after the other
            f, m = encoder.extract_features(
                batch["waves"][x], batch["wave_mask"][x]
            )  # (B, T, C)
            feats.append(f)
            masks.append(m)
        t = max(f.shape[1] for f in feats)
        batch = dict(batch)
        batch["audio_feats"] = torch.stack(
            [nn.functional.pad(f, (0, 0, 0, t - f.shape[1])) for f in feats]
        )  # (K, B, T, C)
        batch["audio_mask"] = torch.stack(
            [nn.functional.pad(m, (0, t - m.shape[1])) for m in masks]
        )
        return self.mlcl(batch)
