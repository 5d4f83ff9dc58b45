"""The speech-free ablation: a text encoder trained with CE and LCL on text only.

Chapter 6's "without speech" row (paper Table 5 has none): BERT-Combined's text
classifier plus a projection head whose embeddings of the same sentence in two languages
are pulled together by NT-Xent. The loss is ``(1 - beta) CE + beta LCL_text``, eq. 13
with no speech: MCL needs speech (alpha is not used) and LCL keeps only its text term
(``nt_xent(text_x, text_y)`` averaged over language pairs)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from mlcl_core.baselines import TextClassifier, run_combined
from mlcl_core.config import ExperimentConfig, LossConfig
from mlcl_core.corpora import Corpus
from mlcl_core.losses import language_pairs, nt_xent_batched, pair_rows
from mlcl_core.model import ProjectionHead
from mlcl_core.outputs import ModelOutput, SystemRun


def text_lcl_loss(text_emb: torch.Tensor, tau: float) -> torch.Tensor:
    """LCL's text term: mean over language pairs (x, y) of NT-Xent(text_x, text_y).

    ``text_emb`` is (K, N, P), row n of every language the same sentence; zero (still
    attached to the graph) when K = 1, where no language pair exists."""
    if text_emb.ndim != 3:
        raise ValueError(f"text_emb must be (K, N, P), got {tuple(text_emb.shape)}")
    pairs = language_pairs(text_emb.shape[0])
    if not pairs:
        return text_emb.sum() * 0.0
    first, second = pair_rows(pairs, text_emb.device)
    return nt_xent_batched(text_emb[first], text_emb[second], tau).mean()


class TextLCLClassifier(TextClassifier):
    """:class:`~mlcl_core.baselines.TextClassifier` trained with ``(1 - beta) CE +
    beta LCL_text`` (``loss_cfg``'s beta, tau and proj_dim)."""

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        pooling: str = "cls",
        dropout: float = 0.1,
        loss_cfg: LossConfig | None = None,
    ) -> None:
        super().__init__(encoder, num_labels, pooling, dropout)
        self.loss_cfg = loss_cfg or LossConfig()
        self.text_head = ProjectionHead(
            encoder.config.hidden_size, self.loss_cfg.proj_dim
        )

    def forward(self, batch: dict[str, Any]) -> ModelOutput:
        pooled, logits, y, group, ce = self.classify(batch)  # pooled (R, D)
        k, b = batch["input_ids"].shape[:2]
        text_emb = self.text_head(pooled).view(k, b, -1)  # (K, B, P)
        beta, tau = self.loss_cfg.beta, self.loss_cfg.tau
        # one sentence has no negatives (only happens in evaluation)
        lcl = text_lcl_loss(text_emb.float(), tau) if b >= 2 else ce.new_zeros(())
        loss = (1 - beta) * ce + beta * lcl
        parts = {"ce": ce.item(), "lcl": lcl.item()}
        extras = {"text_emb": text_emb.detach()}
        return ModelOutput(loss, logits, y, group, parts=parts, extras=extras)


def run_text_lcl(
    cfg: ExperimentConfig,
    corpus: Corpus,
    speech_table: pd.DataFrame | None,
    checkpoint_dir: Path | None,
    progress: bool,
) -> SystemRun:
    """The speech-free row: :class:`TextLCLClassifier` on every language, ``cfg``'s
    seed (the speech table is not used)."""
    head = partial(TextLCLClassifier, loss_cfg=cfg.loss)
    return run_combined(cfg, corpus, None, checkpoint_dir, progress, head=head)
