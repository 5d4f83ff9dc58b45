"""The MLCL model (paper section 3): text and speech of every language, two contrastive
losses, CM-BERT fusion, one classifier.

Per language x of a batch: the shared text encoder reads the text, the audio encoder
(with the adapters of x) reads the cached speech features; projection heads map the
[CLS] (or mean) text state and the mean audio frame to L2-normalised ``text_emb`` and
``speech_emb`` for the contrastive losses; CM-BERT fuses the audio into the text tokens
and a linear classifier reads the fused [CLS] (or, with mean pooling, the mean fused
token). The total loss (eq. 13) is::

    (1 - alpha - beta) CE + alpha MCL + beta LCL  (+ SimAdapter's regularisers)

The model is built by :func:`build_mlcl`; the data steps around it are the caller's::

    model = build_mlcl(cfg, corpus)
    feats = corpus_features(cfg, corpus, speech_table, model.audio_encoder)
    loaders = make_loaders(cfg, corpus, model.tokenizer, feats)
    model.prepare(loaders["train"])  # the adapter stage before joint training
    out = model(next(iter(loaders["train"])))  # ModelOutput: loss, logits (K*B, C), ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlcl_core.adapters import prepare_adapters
from mlcl_core.batching import by_language
from mlcl_core.config import (
    POOLING_KINDS,
    AdapterConfig,
    ExperimentConfig,
    FusionConfig,
    LossConfig,
    check_choice,
    check_loss_weights,
)
from mlcl_core.corpora import Corpus
from mlcl_core.encoders import build_audio_encoder, build_text_encoder, pool
from mlcl_core.encoders.packed import text_states
from mlcl_core.fusion import CMBertFusion
from mlcl_core.losses import lcl_loss, mcl_loss
from mlcl_core.outputs import ModelOutput


class ProjectionHead(nn.Module):
    """Maps a sentence vector to the contrastive space (SimCLR-style: Linear, ReLU,
    Linear)."""

    def __init__(self, dim: int, proj_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, proj_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


class MLCLModel(nn.Module):
    """MLCL: shared text encoder, adapted audio encoder, contrastive heads, CM-BERT
    fusion, classifier.

    Args:
        text_encoder: a ``transformers.BertModel`` (any model returning
        ``last_hidden_state``).
        audio_encoder: a :class:`mlcl_core.encoders.AudioEncoder` (forward on cached
        features).
        num_labels: number of classes C.
        languages: the languages the model serves (audio adapters exist for these).
        fusion_cfg: CM-BERT fusion settings.
        loss_cfg: alpha, beta, tau and the projection width.
        pooling: sentence vector of the text (for the contrastive head) and of the fused
            states (for the classifier): ``cls`` or ``mean`` over the unpadded tokens.
        adapter_cfg, seed: used by :meth:`prepare` (the adapter stage); optional
        otherwise.
        tokenizer: the tokenizer of ``text_encoder`` (what :func:`build_mlcl` built with
            it), for the caller's loaders; optional.
    """

    def __init__(
        self,
        text_encoder: nn.Module,
        audio_encoder: nn.Module,
        num_labels: int,
        languages: Sequence[str],
        fusion_cfg: FusionConfig,
        loss_cfg: LossConfig,
        pooling: str = "cls",
        adapter_cfg: AdapterConfig | None = None,
        seed: int = 0,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        check_loss_weights(loss_cfg)
        check_choice("pooling", pooling, POOLING_KINDS)
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        self.text_encoder, self.audio_encoder = text_encoder, audio_encoder
        self.languages = tuple(languages)
        self.loss_cfg, self.pooling = loss_cfg, pooling
        self.adapter_cfg, self.seed, self.num_labels = adapter_cfg, seed, num_labels
        self.tokenizer = tokenizer
        dt, da = text_encoder.config.hidden_size, audio_encoder.hidden_size
        self.text_head = ProjectionHead(dt, loss_cfg.proj_dim)
        self.speech_head = ProjectionHead(da, loss_cfg.proj_dim)
        # LossConfig.speech_norm "language": standardise each language's pooled audio
        self.speech_norm = nn.ModuleList(
            nn.BatchNorm1d(da, affine=False)
            for _ in (self.languages if loss_cfg.speech_norm == "language" else ())
        )
        self.fusion = CMBertFusion(dt, da, fusion_cfg)
        self.classifier = nn.Linear(dt, num_labels)
        self.audio_one_call = True  # see _audio; False: today's loop over languages
        self.text_path = "packed"  # encoders.packed.TEXT_PATHS (speed benchmark)
        self.cls_only_fusion = True  # False: fuse every token (speed benchmark)
        # False: the contrastive terms one at a time (speed benchmark)
        self.batched_losses = True

    def train(self, mode: bool = True) -> MLCLModel:
        """Train mode, except that a frozen audio backbone keeps its dropout off.

        Its weights never change, so dropout there only adds noise and time (random
        masks over every frame of every layer); the adapters inside it have no dropout
        of their own."""
        super().train(mode)
        backbone = self.audio_encoder.backbone
        adapter_ids = {id(p) for p in self.audio_encoder.adapter_parameters()}
        if mode and not any(
            p.requires_grad for p in backbone.parameters() if id(p) not in adapter_ids
        ):
            backbone.eval()
        return self

    def adapter_parameters(self) -> list[nn.Parameter]:
        """Audio adapters and the fusion: the trainer steps these at ``adapter_lr``."""
        return list(self.audio_encoder.adapter_parameters()) + list(
            self.fusion.parameters()
        )

    def _speech_norm(
        self, pooled: torch.Tensor, langs: Sequence[str], b: int
    ) -> torch.Tensor:
        """(K*B, Da) pooled audio, standardised per language when ``speech_norm``."""
        if not len(self.speech_norm):
            return pooled
        norms = [self.speech_norm[self.languages.index(lang)] for lang in langs]
        return torch.cat([n(p) for n, p in zip(norms, pooled.split(b), strict=True)])

    def _audio(
        self,
        feats: torch.Tensor,
        mask: torch.Tensor,
        langs: Sequence[str],
        keys: Sequence[bytes] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio frames (K*B, T, Da), pooled (K*B, Da) and the adapters' regulariser.

        ``feats`` (K, B, T, C) and ``mask`` (K, B, T) are language-major. With
        ``audio_one_call`` (default) all K*B rows go through the encoder in one call,
        each row routed to its language's adapters: the same per-row computation as a
        loop over the languages, in K times fewer, larger kernels (issue 8). The loop is
        kept for the speed benchmark's "before" row (``benchmarks/mlcl_speed.py``).
        ``keys``: the K*B rows' clip keys (``batch["audio_keys"]``), if any.
        """
        if self.audio_one_call:
            b = feats.shape[1]
            row_langs = [lang for lang in langs for _ in range(b)]
            frames, pooled = self.audio_encoder(
                feats.flatten(0, 1), mask.flatten(0, 1), row_langs, keys
            )
            reg = sum(self.audio_encoder.regularization(lang) for lang in langs)
        else:
            frames, pooled, reg = [], [], 0.0
            for x, lang in enumerate(langs):  # the adapters differ per language
                f, p = self.audio_encoder(feats[x], mask[x], lang)  # (B,T,Da), (B,Da)
                frames.append(f)
                pooled.append(p)
                reg = reg + self.audio_encoder.regularization(lang)
            frames, pooled = torch.cat(frames), torch.cat(pooled)
        # Average over languages: the W_V penalty is the same for every language, so a
        # sum would weight it K times; the guide term becomes the mean over languages.
        return frames, pooled, reg / len(langs)

    def forward(self, batch: dict[str, Any]) -> ModelOutput:
        """One MLCL forward pass over a batch of :func:`mlcl_core.batching.collate`.

        Returns a :class:`ModelOutput` with R = K*B rows (language-major), ``parts``
        ce/mcl/lcl/reg and ``extras`` text_emb/speech_emb (K, B, P)."""
        langs = tuple(batch["langs"])
        if "audio_feats" not in batch:
            raise ValueError(
                "MLCLModel needs audio: the batch has no audio_feats (build the "
                "dataset with audio_feats)"
            )
        unknown = [lang for lang in langs if lang not in self.languages]
        if unknown:
            raise ValueError(
                f"batch languages {unknown} unknown to the model; it serves "
                f"{self.languages}"
            )
        input_ids, attn = batch["input_ids"], batch["attention_mask"]  # (K, B, L)
        k, b, n_tok = input_ids.shape
        text_mask = attn.reshape(k * b, n_tok)
        # The text encoder is shared: one call over all K*B texts, on their real tokens
        # only (mlcl_core.encoders.packed). (K*B, L, Dt)
        states = text_states(
            self.text_encoder,
            input_ids.reshape(k * b, n_tok),
            text_mask,
            self.text_path,
        )
        # (K*B, T, Da), (K*B, Da)
        frames_all, pooled_all, reg = self._audio(
            batch["audio_feats"], batch["audio_mask"], langs, batch.get("audio_keys")
        )
        frame_mask = batch["audio_mask"].reshape(k * b, -1)  # (K*B, T)
        # (K*B, L, Dt); with [CLS] pooling only the fused [CLS] (K*B, 1, Dt) is needed
        cls_only = self.cls_only_fusion and self.pooling == "cls"
        fused = self.fusion(states, text_mask, frames_all, frame_mask, cls_only)
        # The classifier reads the fused [CLS] (CM-BERT) or, with mean pooling, the mean
        # of the fused token states: a randomly initialised encoder has no pre-trained
        # [CLS] summary, and the mean sees every token (and, through the fusion, its
        # audio) directly.
        logits = self.classifier(pool(fused, text_mask, self.pooling))  # (K*B, C)
        y = batch["y"].repeat(k)  # (K*B,)
        group = torch.arange(k, device=y.device).repeat_interleave(b)  # (K*B,)
        # (K, B, P)
        text_emb = self.text_head(pool(states, text_mask, self.pooling)).view(k, b, -1)
        speech_emb = self.speech_head(self._speech_norm(pooled_all, langs, b))
        speech_emb = speech_emb.view(k, b, -1)  # (K, B, P)
        ce = F.cross_entropy(logits.float(), y)
        alpha, beta, tau = self.loss_cfg.alpha, self.loss_cfg.beta, self.loss_cfg.tau
        if b >= 2:
            views = text_emb.float(), speech_emb.float()
            mcl = mcl_loss(*views, tau, self.batched_losses)
            lcl = lcl_loss(*views, tau, self.batched_losses)
        else:  # one sentence has no negatives (only happens in evaluation)
            mcl = lcl = ce.new_zeros(())
        loss = (1 - alpha - beta) * ce + alpha * mcl + beta * lcl + reg
        parts = {
            "ce": ce.item(),
            "mcl": mcl.item(),
            "lcl": lcl.item(),
            "reg": float(reg.detach()),
        }
        return ModelOutput(
            loss=loss,
            logits=logits,
            y=y,
            group=group,
            parts=parts,
            extras={"text_emb": text_emb.detach(), "speech_emb": speech_emb.detach()},
        )

    def prepare(
        self,
        train_loader: Iterable[dict[str, Any]],
        device: torch.device | str | None = None,
        bf16: bool = False,
    ) -> dict:
        """The adapter stage before joint training
        (:func:`~mlcl_core.adapters.prepare_adapters`).

        SimAdapter: each language's adapter on its own speech, then the fusion;
        MetaAdapter:
        meta-learning of the shared adapter; none: nothing. Returns its history.
        ``device`` and ``bf16``: the trainer's device and autocast (pass
        ``resolve_device(cfg.train.device)`` and ``cfg.train.bf16``), so that the stage
        runs where training will.
        """
        if self.adapter_cfg is None:
            raise ValueError(
                "prepare() needs the model's adapter_cfg (build the model with "
                "build_mlcl)"
            )
        return prepare_adapters(
            self.audio_encoder,
            by_language(train_loader),
            self.num_labels,
            self.adapter_cfg,
            self.seed,
            device=device,
            bf16=bf16,
        )


def check_languages(cfg: ExperimentConfig, corpus: Corpus) -> None:
    """``cfg``'s languages are in the corpus (checked before any model is built)."""
    missing = [lang for lang in cfg.data.languages if lang not in corpus.languages]
    if missing:
        raise ValueError(
            f"languages {missing} are not in corpus {corpus.name!r}; it has "
            f"{list(corpus.languages)}"
        )


def build_mlcl(cfg: ExperimentConfig, corpus: Corpus) -> MLCLModel:
    """The :class:`MLCLModel` that ``cfg`` describes, with its tokenizer as
    ``.tokenizer``.

    The tokenizer (when trained) sees the corpus's train split only. Seeded by
    ``cfg.train.seed``: text encoder, adapters, heads and fusion are drawn in this
    order. Audio features are the caller's step
    (:func:`mlcl_core.features.corpus_features` on ``model.audio_encoder``); drawing no
    random numbers, it may come before or after."""
    check_languages(cfg, corpus)
    langs = cfg.data.languages
    torch.manual_seed(cfg.train.seed)
    train = corpus.split("train")
    texts = [t for lang in langs for t in train[lang]]
    tokenizer, text_encoder = build_text_encoder(cfg.text, texts)
    audio_encoder = build_audio_encoder(cfg.audio, cfg.adapter, langs)
    # the frozen prefix's states are kept on disk beside the features (frozen.py)
    audio_encoder.frozen_prefix.cache_root = cfg.speech.feature_cache_dir
    return MLCLModel(
        text_encoder,
        audio_encoder,
        len(corpus.labels),
        langs,
        cfg.fusion,
        cfg.loss,
        pooling=cfg.text.pooling,
        adapter_cfg=cfg.adapter,
        seed=cfg.train.seed,
        tokenizer=tokenizer,
    )
