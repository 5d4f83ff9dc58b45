"""The MLCL model (paper section 3): text and speech of every language, two contrastive losses,
CM-BERT fusion, one classifier.

Per language x of a batch: the shared text encoder reads the text, the audio encoder (with the
adapters of x) reads the cached speech features; projection heads map the [CLS] (or mean) text
state and the mean audio frame to L2-normalised ``text_emb`` and ``speech_emb`` for the
contrastive losses; CM-BERT fuses the audio into the text tokens and a linear classifier reads
the fused [CLS] (or, with mean pooling, the mean fused token). The total loss (eq. 13) is::

    (1 - alpha - beta) CE + alpha MCL + beta LCL  (+ SimAdapter's regularisers)

::

    model, tokenizer, feats = build_mlcl(cfg, corpus, speech_table)
    train = make_loader(ParallelDataset(corpus, "train", tokenizer, cfg.data.languages,
                                        cfg.data.max_text_len, feats), cfg.train.batch_size, True, cfg.train.seed)
    model.prepare(train)          # adapters stage (SimAdapter / MetaAdapter) before joint training
    out = model(next(iter(train)))  # ModelOutput: loss, logits (K*B, C), y, group, parts, extras
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mlcl_core.config import ADAPTER_KINDS, ExperimentConfig, FusionConfig, LossConfig
from mlcl_core.fusion import CMBertFusion
from mlcl_core.losses import lcl_loss, mcl_loss
from mlcl_core.outputs import ModelOutput


class ProjectionHead(nn.Module):
    """Maps a sentence vector to the contrastive space (SimCLR-style: Linear, ReLU, Linear)."""

    def __init__(self, dim: int, proj_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, proj_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


class MLCLModel(nn.Module):
    """MLCL: shared text encoder, adapted audio encoder, contrastive heads, CM-BERT fusion, classifier.

    Args:
        text_encoder: a ``transformers.BertModel`` (any model returning ``last_hidden_state``).
        audio_encoder: a :class:`mlcl_core.encoders.AudioEncoder` (forward on cached features).
        num_labels: number of classes C.
        languages: the languages the model serves (audio adapters exist for these).
        fusion_cfg: CM-BERT fusion settings.
        loss_cfg: alpha, beta, tau and the projection width.
        pooling: sentence vector of the text (for the contrastive head) and of the fused states
            (for the classifier): ``cls`` or ``mean`` over the unpadded tokens.
        adapter_cfg, seed: used by :meth:`prepare` (the adapter stage); optional otherwise.
    """

    def __init__(self, text_encoder: nn.Module, audio_encoder: nn.Module, num_labels: int,
                 languages: Sequence[str], fusion_cfg: FusionConfig, loss_cfg: LossConfig,
                 pooling: str = "cls", adapter_cfg: Any = None, seed: int = 0) -> None:
        super().__init__()
        check_loss_config(loss_cfg)
        if pooling not in ("cls", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}; known: cls, mean")
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        self.text_encoder, self.audio_encoder = text_encoder, audio_encoder
        self.languages = tuple(languages)
        self.loss_cfg, self.pooling = loss_cfg, pooling
        self.adapter_cfg, self.seed, self.num_labels = adapter_cfg, seed, num_labels
        dt, da = text_encoder.config.hidden_size, audio_encoder.hidden_size
        self.text_head = ProjectionHead(dt, loss_cfg.proj_dim)
        self.speech_head = ProjectionHead(da, loss_cfg.proj_dim)
        self.fusion = CMBertFusion(dt, da, fusion_cfg)
        self.classifier = nn.Linear(dt, num_labels)
        self.audio_one_call = True  # see _audio; False: today's loop over languages

    def train(self, mode: bool = True) -> "MLCLModel":
        """Train mode, except that a frozen audio backbone keeps its dropout off.

        Its weights never change, so dropout there only adds noise and time (random masks over
        every frame of every layer); the adapters inside it have no dropout of their own.
        """
        super().train(mode)
        backbone = self.audio_encoder.backbone
        adapter_ids = {id(p) for p in self.audio_encoder.adapter_parameters()}
        if mode and not any(p.requires_grad for p in backbone.parameters() if id(p) not in adapter_ids):
            backbone.eval()
        return self

    def adapter_parameters(self) -> list[nn.Parameter]:
        """Audio adapters and the fusion: the trainer steps these at ``adapter_lr``."""
        return list(self.audio_encoder.adapter_parameters()) + list(self.fusion.parameters())

    def _sentence(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return states[:, 0]
        w = mask.unsqueeze(-1).to(states.dtype)  # (R, L, 1)
        return (states * w).sum(1) / w.sum(1).clamp(min=1.0)

    def _audio(self, feats: torch.Tensor, mask: torch.Tensor,
               langs: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio frames (K*B, T, Da), pooled (K*B, Da) and the adapters' regulariser.

        ``feats`` (K, B, T, C) and ``mask`` (K, B, T) are language-major. With
        ``audio_one_call`` (default) all K*B rows go through the encoder in one call,
        each row routed to its language's adapters: the same per-row computation as a
        loop over the languages, in K times fewer, larger kernels (issue 8). The loop is
        kept for the speed benchmark's "before" row (``benchmarks/mlcl_speed.py``).
        """
        if self.audio_one_call:
            b = feats.shape[1]
            row_langs = [lang for lang in langs for _ in range(b)]
            frames, pooled = self.audio_encoder(feats.flatten(0, 1), mask.flatten(0, 1),
                                                row_langs)
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

        Returns a :class:`ModelOutput` with R = K*B rows (language-major), ``parts`` ce/mcl/lcl/reg
        and ``extras`` text_emb/speech_emb (K, B, P).
        """
        langs = tuple(batch["langs"])
        if "audio_feats" not in batch:
            raise ValueError("MLCLModel needs audio: the batch has no audio_feats (build the dataset with audio_feats)")
        unknown = [lang for lang in langs if lang not in self.languages]
        if unknown:
            raise ValueError(f"batch languages {unknown} unknown to the model; it serves {self.languages}")
        input_ids, attn = batch["input_ids"], batch["attention_mask"]  # (K, B, L)
        k, b, l = input_ids.shape
        # The text encoder is shared: one call over all K*B texts.
        states = self.text_encoder(input_ids=input_ids.reshape(k * b, l),
                                   attention_mask=attn.reshape(k * b, l)).last_hidden_state  # (K*B, L, Dt)
        text_mask = attn.reshape(k * b, l)
        audio_feats, audio_mask = batch["audio_feats"], batch["audio_mask"]
        frames_all, pooled_all, reg = self._audio(audio_feats, audio_mask, langs)
        frame_mask = batch["audio_mask"].reshape(k * b, -1)  # (K*B, T)
        fused = self.fusion(states, text_mask, frames_all, frame_mask)  # (K*B, L, Dt)
        # The classifier reads the fused [CLS] (CM-BERT) or, with mean pooling, the mean of the
        # fused token states: a randomly initialised encoder has no pre-trained [CLS] summary,
        # and the mean sees every token (and, through the fusion, its audio) directly.
        logits = self.classifier(self._sentence(fused, text_mask))  # (K*B, C)
        y = batch["y"].repeat(k)  # (K*B,)
        group = torch.arange(k, device=y.device).repeat_interleave(b)  # (K*B,)
        text_emb = self.text_head(self._sentence(states, text_mask)).view(k, b, -1)  # (K, B, P)
        speech_emb = self.speech_head(pooled_all).view(k, b, -1)  # (K, B, P)
        ce = F.cross_entropy(logits.float(), y)
        alpha, beta, tau = self.loss_cfg.alpha, self.loss_cfg.beta, self.loss_cfg.tau
        if b >= 2:
            mcl = mcl_loss(text_emb.float(), speech_emb.float(), tau)
            lcl = lcl_loss(text_emb.float(), speech_emb.float(), tau)
        else:  # one sentence has no negatives (only happens in evaluation)
            mcl = lcl = ce.new_zeros(())
        loss = (1 - alpha - beta) * ce + alpha * mcl + beta * lcl + reg
        parts = {"ce": ce.item(), "mcl": mcl.item(), "lcl": lcl.item(), "reg": float(reg.detach())}
        return ModelOutput(loss=loss, logits=logits, y=y, group=group, parts=parts,
                           extras={"text_emb": text_emb.detach(), "speech_emb": speech_emb.detach()})

    def prepare(self, train_loader: Iterable[dict[str, Any]]) -> dict:
        """The adapter stage before joint training (``mlcl_core.adapters.prepare_adapters``).

        SimAdapter: each language's adapter on its own speech, then the fusion; MetaAdapter:
        meta-learning of the shared adapter; none: nothing. Returns its history.
        """
        from mlcl_core.adapters import prepare_adapters

        if self.adapter_cfg is None:
            raise ValueError("prepare() needs the model's adapter_cfg (build the model with build_mlcl)")
        by_lang: dict[str, list] = {lang: [] for lang in self.languages}
        for batch in train_loader:
            for x, lang in enumerate(batch["langs"]):
                by_lang[lang].append((batch["audio_feats"][x], batch["audio_mask"][x], batch["y"]))
        return prepare_adapters(self.audio_encoder, by_lang, self.num_labels, self.adapter_cfg, self.seed)


def check_loss_config(loss_cfg: LossConfig) -> None:
    """Reject loss weights that make eq. 13 meaningless (also checked when the config is built)."""
    a, b, tau = loss_cfg.alpha, loss_cfg.beta, loss_cfg.tau
    if a < 0 or b < 0:
        raise ValueError(f"alpha and beta must be >= 0, got alpha={a}, beta={b}")
    if a + b >= 1:
        raise ValueError(f"alpha + beta must be < 1 (the CE weight is 1 - alpha - beta), got {a} + {b}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")


def check_inputs(cfg: ExperimentConfig, corpus: Any, speech_table: pd.DataFrame) -> None:
    """Everything :func:`build_mlcl` needs, checked before any long work (clear ``ValueError``)."""
    check_loss_config(cfg.loss)
    if cfg.adapter.kind not in ADAPTER_KINDS:
        raise ValueError(f"unknown adapter kind {cfg.adapter.kind!r}; known: {', '.join(ADAPTER_KINDS)}")
    langs = cfg.data.languages
    missing = [lang for lang in langs if lang not in corpus.languages]
    if missing:
        raise ValueError(f"languages {missing} are not in corpus {corpus.name!r}; it has {list(corpus.languages)}")
    for col in ("id", "lang", "path"):
        if col not in speech_table.columns:
            raise ValueError(f"speech table lacks column {col!r}; use mlcl_core.speech.synthesize_corpus")
    have = set(speech_table["lang"])
    missing = [lang for lang in langs if lang not in have]
    if missing:
        raise ValueError(f"languages {missing} have no speech in the speech table (it has {sorted(have)}); "
                         "synthesise them first")
    ids = {str(i) for i in corpus.table["id"]}
    for lang in langs:
        got = {str(i) for i in speech_table.loc[speech_table["lang"] == lang, "id"]}
        if not ids <= got:
            raise ValueError(f"{len(ids - got)} sentences of {lang} have no speech in the speech table, "
                             f"e.g. ids {sorted(ids - got)[:3]}")


def build_mlcl(cfg: ExperimentConfig, corpus: Any, speech_table: pd.DataFrame,
               load_wave: Any = None) -> tuple[MLCLModel, Any, dict]:
    """Tokenizer, encoders, cached audio features and the :class:`MLCLModel` that ``cfg`` describes.

    Args:
        cfg: the experiment config (languages, encoders, adapters, fusion, loss, seed).
        corpus: the parallel corpus; the tokenizer (when trained) sees its train split only.
        speech_table: ``mlcl_core.speech.synthesize_corpus`` output for these languages.
        load_wave: path -> waveform (default ``mlcl_core.speech.load_wave``).

    Returns:
        ``(model, tokenizer, audio_feats)``; ``model.timings`` holds the feature-extraction time.
    """
    from mlcl_core.batching import audio_features
    from mlcl_core.encoders import build_audio_encoder, build_text_encoder

    check_inputs(cfg, corpus, speech_table)
    langs = cfg.data.languages
    torch.manual_seed(cfg.train.seed)
    train = corpus.split("train")
    tokenizer, text_encoder = build_text_encoder(cfg.text, [t for lang in langs for t in train[lang]])
    audio_encoder = build_audio_encoder(cfg.audio, cfg.adapter, langs)
    wanted = speech_table["lang"].isin(langs) & speech_table["id"].astype(str).isin(set(corpus.table["id"].astype(str)))
    start = time.perf_counter()
    feats = audio_features(audio_encoder, speech_table[wanted], cfg.speech.max_seconds, load_wave=load_wave,
                           cache_dir=cfg.speech.feature_cache_dir)
    seconds = time.perf_counter() - start
    model = MLCLModel(text_encoder, audio_encoder, len(corpus.labels), langs, cfg.fusion, cfg.loss,
                      pooling=cfg.text.pooling, adapter_cfg=cfg.adapter, seed=cfg.train.seed)
    model.timings = {"feature_extraction_s": seconds, "clips": int(wanted.sum())}
    return model, tokenizer, feats
