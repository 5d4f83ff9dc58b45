"""Text and audio encoders for both profiles: built from config (``tiny``) or loaded (``paper``).

* Text: a BERT. ``tiny`` trains a WordPiece tokenizer on the corpus (no lowercasing, no
  accent stripping, so Tibetan and Burmese vowel signs survive) and builds a random-init BERT
  of the configured geometry; ``paper`` loads ``bert-base-multilingual-uncased`` (or any hub
  id / local directory) with ``from_pretrained``, or builds its geometry at random init when
  ``pretrained=False``.
* Audio: a wav2vec2 whose convolutional feature extractor is always frozen and whose
  transformer layers are each followed by adapters (:mod:`mlcl_core.adapters`). The frozen
  feature extractor runs once per corpus (:meth:`AudioEncoder.extract_features`); training
  only runs :meth:`AudioEncoder.forward` on the cached features.

``HF_HUB_OFFLINE`` and the Hugging Face cache are honoured by ``from_pretrained`` itself.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from mlcl_core.adapters import SIM_MODES, AdaptedLayer, LayerAdapters, Route
from mlcl_core.config import AdapterConfig, AudioEncoderConfig, TextEncoderConfig
from mlcl_core.distributed import from_rank0

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int):
    """A BERT-compatible WordPiece tokenizer trained on ``texts``, keeping every vowel sign.

    BERT's normaliser lowercases and strips accents (NFD, then drops combining marks), which
    deletes Tibetan and Burmese vowel signs; both are off here. transformers 5 rebuilds the
    normaliser from ``do_lower_case``/``strip_accents`` when a saved tokenizer is reloaded, so
    they are passed explicitly too. Chinese characters are split one per token, as in BERT.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                       show_progress=False)
    texts = [t for t in texts]
    if not any(t.strip() for t in texts):
        raise ValueError("cannot train a tokenizer: no non-empty texts given")
    tok.train_from_iterator(texts, trainer=trainer)
    # The trainer's ids change from one process to the next (hash-ordered alphabet),
    # and on large corpora so do a few tokens (ties broken in hash order): canonical
    # ids (the special tokens first, then the others sorted), and under torchrun rank
    # 0's vocabulary for every process, so an embedding row means one token in all.
    learnt = sorted(set(tok.get_vocab()) - set(SPECIAL_TOKENS))
    ids = from_rank0({t: i for i, t in enumerate([*SPECIAL_TOKENS, *learnt])})
    tok.model = models.WordPiece(ids, unk_token="[UNK]")
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return BertTokenizerFast(tokenizer_object=tok, do_lower_case=False, strip_accents=False,
                             tokenize_chinese_chars=True, unk_token="[UNK]", sep_token="[SEP]",
                             pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")


def bert_config(cfg: TextEncoderConfig, vocab_size: int, pad_token_id: int = 0):
    """The ``BertConfig`` of ``cfg``'s geometry (used when no checkpoint is named)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                      num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                      hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
                      max_position_embeddings=512, pad_token_id=pad_token_id)


def build_text_encoder(cfg: TextEncoderConfig, texts: Sequence[str] | None = None,
                       attn_implementation: str = "sdpa"):
    """The (tokenizer, ``BertModel``) pair that ``cfg`` describes.

    ``cfg.name_or_path`` None: a WordPiece tokenizer trained on ``texts`` and a random-init
    BERT of ``cfg``'s geometry. Otherwise the tokenizer and weights of that hub id or local
    directory (``pretrained``), or its geometry at random init (``pretrained=False``).
    ``attn_implementation``: ``sdpa`` (default; PyTorch's fused attention kernels, flash
    and memory-efficient ones on a GPU; on the tiny CPU profile it measured as fast as
    ``eager``, issue 8) or ``eager`` (needed to ask for attention weights).
    """
    from transformers import AutoConfig, AutoTokenizer, BertModel

    if cfg.name_or_path is None:
        if texts is None:
            raise ValueError("build_text_encoder: name_or_path is None, so texts are needed to train a tokenizer")
        tokenizer = train_wordpiece_tokenizer(texts, cfg.vocab_size)
        conf = bert_config(cfg, len(tokenizer), tokenizer.pad_token_id)
        conf._attn_implementation = attn_implementation
        return tokenizer, BertModel(conf, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(cfg.name_or_path)
    if cfg.pretrained:
        model = BertModel.from_pretrained(cfg.name_or_path, add_pooling_layer=False,
                                          attn_implementation=attn_implementation)
    else:
        conf = AutoConfig.from_pretrained(cfg.name_or_path, attn_implementation=attn_implementation)
        model = BertModel(conf, add_pooling_layer=False)
    return tokenizer, model


def wav2vec2_config(cfg: AudioEncoderConfig):
    """The ``Wav2Vec2Config`` of ``cfg``'s geometry (used when no checkpoint is named).

    LayerDrop and SpecAugment masking are off: adapters sit inside every layer, and the
    cached features are the only input.
    """
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                          num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                          conv_dim=list(cfg.conv_dim), conv_kernel=list(cfg.conv_kernel),
                          conv_stride=list(cfg.conv_stride), feat_extract_norm=cfg.feat_extract_norm,
                          layerdrop=0.0, mask_time_prob=0.0)


class AudioEncoder(nn.Module):
    """wav2vec2 with a frozen feature extractor and adapters after every transformer layer.

    Args:
        backbone: a ``Wav2Vec2Model``; its layers are wrapped in place.
        adapter_cfg: which adapters and how wide.
        languages: the languages the adapters serve (one SimAdapter adapter each).
        freeze_backbone: freeze the feature projection and transformer too (only adapters train).
    """

    def __init__(self, backbone: nn.Module, adapter_cfg: AdapterConfig, languages: Sequence[str],
                 freeze_backbone: bool = True) -> None:
        super().__init__()
        if not languages:
            raise ValueError("AudioEncoder needs at least one language")
        self.backbone = backbone
        self.adapter_cfg = adapter_cfg
        self.languages = tuple(languages)
        self.route = Route()
        for p in backbone.feature_extractor.parameters():
            p.requires_grad_(False)  # always frozen: its output is cached once per corpus
        if freeze_backbone:
            for p in backbone.parameters():
                p.requires_grad_(False)
        layers = backbone.encoder.layers
        for i in range(len(layers)):
            block = LayerAdapters(backbone.config.hidden_size, adapter_cfg, self.languages)
            layers[i] = AdaptedLayer(layers[i], block, self.route)

    @property
    def hidden_size(self) -> int:
        return self.backbone.config.hidden_size

    @property
    def feature_dim(self) -> int:
        """Channels C of the cached features (the last convolution's width)."""
        return self.backbone.config.conv_dim[-1]

    def adapter_blocks(self) -> list[LayerAdapters]:
        """The adapter block of every transformer layer, bottom to top."""
        return [layer.adapters for layer in self.backbone.encoder.layers]

    def adapter_parameters(self) -> list[nn.Parameter]:
        """Trainable adapter and fusion parameters (what the adapter optimiser steps)."""
        return [p for block in self.adapter_blocks() for p in block.parameters() if p.requires_grad]

    def set_mode(self, mode: str) -> None:
        """SimAdapter: ``single`` (own language's adapter only) or ``fusion`` (attention over all)."""
        if mode not in SIM_MODES:
            raise ValueError(f"unknown adapter mode {mode!r}; known: {', '.join(SIM_MODES)}")
        self.route.mode = mode

    @torch.no_grad()
    def extract_features(self, wave: torch.Tensor, wave_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the frozen convolutional feature extractor: (B, S) 16 kHz -> (B, T, C), (B, T).

        Each wave is normalised to zero mean and unit variance over its valid samples, as the
        wav2vec2 feature extractor does. With group norm (wav2vec2-base) the first layer's
        statistics span the whole time axis, so padding would change the features: those
        models run one wave at a time; layer-norm models run as a batch.
        """
        if wave.dim() != 2 or wave.shape != wave_mask.shape:
            raise ValueError(f"wave and wave_mask must both be (B, S), got {tuple(wave.shape)}, {tuple(wave_mask.shape)}")
        lengths = wave_mask.sum(dim=1)  # (B,)
        if (lengths == 0).any():
            raise ValueError("extract_features: a wave has no valid samples")
        wave = wave.float() * wave_mask
        mean = wave.sum(1, keepdim=True) / lengths[:, None]
        var = ((wave - mean) ** 2 * wave_mask).sum(1, keepdim=True) / lengths[:, None]
        wave = (wave - mean) / torch.sqrt(var + 1e-7) * wave_mask
        conv = self.backbone.feature_extractor
        frame_lengths = self.backbone._get_feat_extract_output_lengths(lengths).long()  # (B,)
        t_max = int(frame_lengths.max())
        if self.backbone.config.feat_extract_norm == "group":
            feats = wave.new_zeros(wave.shape[0], t_max, self.feature_dim)  # (B, T, C)
            for i, n in enumerate(lengths.tolist()):
                one = conv(wave[i:i + 1, :n]).transpose(1, 2)[0]  # (T_i, C)
                feats[i, :one.shape[0]] = one
        else:
            feats = conv(wave).transpose(1, 2)[:, :t_max]  # (B, T, C)
        feat_mask = torch.arange(t_max, device=wave.device)[None, :] < frame_lengths[:, None]  # (B, T)
        return feats * feat_mask[..., None], feat_mask

    def forward(self, feats: torch.Tensor, feat_mask: torch.Tensor,
                lang: str | Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached features (B, T, C) -> frames (B, T, D) and their masked mean (B, D).

        ``lang``: the language of every row, or one language per row (B names): then
        the rows of several languages go through the encoder in one call, each row
        through its own language's adapters (instead of a loop over languages, issue 8).
        """
        names = [lang] if isinstance(lang, str) else list(lang)
        unknown = sorted(set(names) - set(self.languages))
        if unknown:
            raise ValueError(f"unknown language {unknown[0]!r} for the audio adapters; "
                             f"known: {', '.join(self.languages)}")
        feat_mask = feat_mask.bool()
        row_lang = None
        if not isinstance(lang, str):
            if len(names) != feats.shape[0]:
                raise ValueError(f"{len(names)} row languages, {feats.shape[0]} rows")
            index = [self.languages.index(n) for n in names]
            row_lang = torch.tensor(index, device=feats.device)
        self.route.lang = lang if isinstance(lang, str) else ""
        self.route.row_names = () if row_lang is None else tuple(names)
        self.route.row_lang, self.route.frame_mask = row_lang, feat_mask
        self.route.attention = []
        hidden, _ = self.backbone.feature_projection(feats)  # (B, T, D)
        frames = self.backbone.encoder(hidden, attention_mask=feat_mask).last_hidden_state  # (B, T, D)
        weights = feat_mask.unsqueeze(-1).to(frames.dtype)  # (B, T, 1)
        pooled = (frames * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, D)
        return frames, pooled

    def attention_weights(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """SimAdapter attention of the last forward, averaged over valid frames: (layers, N).

        ``rows`` (B,) bool restricts the average to those rows. Empty (0, N) for other
        kinds or outside fusion mode.
        """
        if not self.route.attention:
            return torch.zeros(0, len(self.languages))
        frame_mask = self.route.frame_mask
        if rows is not None:
            frame_mask = frame_mask & rows[:, None]
        mask = frame_mask.unsqueeze(-1).to(self.route.attention[0].dtype)  # (B, T, 1)
        return torch.stack([(a * mask).sum((0, 1)) / mask.sum() for a in self.route.attention])

    def regularization(self, lang: str) -> torch.Tensor:
        """SimAdapter's regularisers for the last forward (on ``lang``); 0 for other kinds.

        ``sim_value_reg * sum_layers ||I - W_V||_F^2 + sim_guide_weight * mean_layers
        CE(mean attention, lang)``; the guide term only exists after a fusion-mode forward.
        """
        device = next(self.backbone.parameters()).device
        if self.adapter_cfg.kind != "simadapter":
            return torch.zeros((), device=device)
        blocks = self.adapter_blocks()
        value = sum(b.fusion.value_penalty() for b in blocks)
        total = self.adapter_cfg.sim_value_reg * value
        route = self.route
        if route.attention and (route.lang == lang or lang in route.row_names):
            # after a one-call forward over several languages: average over lang's rows
            index = self.languages.index(lang)
            rows = None if route.row_lang is None else route.row_lang == index
            mean_att = self.attention_weights(rows).clamp(min=1e-8)  # (layers, N)
            guide = -mean_att[:, self.languages.index(lang)].log().mean()
            total = total + self.adapter_cfg.sim_guide_weight * guide
        return total


def build_audio_encoder(cfg: AudioEncoderConfig, adapter_cfg: AdapterConfig,
                        languages: Sequence[str]) -> AudioEncoder:
    """The :class:`AudioEncoder` that ``cfg`` and ``adapter_cfg`` describe.

    ``cfg.name_or_path`` None: random init of ``cfg``'s geometry. Otherwise that hub id or
    local directory (a ``Wav2Vec2Model`` or ``Wav2Vec2ForCTC`` checkpoint): its weights when
    ``pretrained``, its geometry at random init otherwise. LayerDrop and SpecAugment are off.
    """
    from transformers import AutoConfig, Wav2Vec2Model

    if cfg.pretrained:
        backbone = Wav2Vec2Model.from_pretrained(cfg.name_or_path, layerdrop=0.0, mask_time_prob=0.0)
    else:
        conf = (wav2vec2_config(cfg) if cfg.name_or_path is None else
                AutoConfig.from_pretrained(cfg.name_or_path, layerdrop=0.0, mask_time_prob=0.0))
        with torch.random.fork_rng(devices=[]):  # a fixed random "checkpoint"; the run's RNG is untouched
            torch.manual_seed(cfg.init_seed)
            backbone = Wav2Vec2Model(conf)
    return AudioEncoder(backbone, adapter_cfg, languages, freeze_backbone=cfg.freeze_backbone)
