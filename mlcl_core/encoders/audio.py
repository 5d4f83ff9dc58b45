"""The audio encoder: wav2vec2 with a frozen feature extractor and adapters after every
transformer layer, built from its geometry (``tiny``) or loaded (``paper``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mlcl_core.adapters.layer import SIM_MODES, AdaptedLayer, LayerAdapters, Route
from mlcl_core.config import AdapterConfig, AudioEncoderConfig
from mlcl_core.encoders.frozen import FrozenPrefix


def wav2vec2_config(cfg: AudioEncoderConfig):
    """The ``Wav2Vec2Config`` of ``cfg``'s geometry (used when no checkpoint is named).

    LayerDrop and SpecAugment masking are off: adapters sit inside every layer, and the
    cached features are the only input.
    """
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        conv_dim=list(cfg.conv_dim),
        conv_kernel=list(cfg.conv_kernel),
        conv_stride=list(cfg.conv_stride),
        feat_extract_norm=cfg.feat_extract_norm,
        layerdrop=0.0,
        mask_time_prob=0.0,
    )


class AudioEncoder(nn.Module):
    """wav2vec2 with a frozen feature extractor and adapters after every transformer
    layer.

    Args:
        backbone: a ``Wav2Vec2Model``; its layers are wrapped in place.
        adapter_cfg: which adapters and how wide.
        languages: the languages the adapters serve (one SimAdapter adapter each).
        freeze_backbone: freeze the feature projection and transformer too (only
        adapters train).
    """

    def __init__(
        self,
        backbone: nn.Module,
        adapter_cfg: AdapterConfig,
        languages: Sequence[str],
        freeze_backbone: bool = True,
    ) -> None:
        super().__init__()
        if not languages:
            raise ValueError("AudioEncoder needs at least one language")
        self.backbone = backbone
        self.adapter_cfg = adapter_cfg
        self.languages = tuple(languages)
        self.route = Route()
        for p in backbone.feature_extractor.parameters():
            # always frozen: its output is cached once per corpus
            p.requires_grad_(False)
        if freeze_backbone:
            for p in backbone.parameters():
                p.requires_grad_(False)
        layers = backbone.encoder.layers
        for i in range(len(layers)):
            block = LayerAdapters(
                backbone.config.hidden_size, adapter_cfg, self.languages
            )
            layers[i] = AdaptedLayer(layers[i], block, self.route)
        # the frozen bottom of the backbone, once per clip (encoders/frozen.py); False:
        # the backbone runs from the features every time (the benchmark's "before")
        self.frozen_prefix = FrozenPrefix(backbone)
        self.memo_prefix = True

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
        """Trainable adapter and fusion parameters (what the adapter optimiser
        steps)."""
        return [
            p
            for block in self.adapter_blocks()
            for p in block.parameters()
            if p.requires_grad
        ]

    def set_mode(self, mode: str) -> None:
        """SimAdapter: ``single`` (own language's adapter only) or ``fusion`` (attention
        over all)."""
        if mode not in SIM_MODES:
            raise ValueError(
                f"unknown adapter mode {mode!r}; known: {', '.join(SIM_MODES)}"
            )
        self.route.mode = mode

    @torch.no_grad()
    def extract_features(
        self, wave: torch.Tensor, wave_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the frozen convolutional feature extractor: (B, S) 16 kHz -> (B, T, C),
        (B, T).

        Each wave is normalised to zero mean and unit variance over its valid samples,
        as the wav2vec2 feature extractor does. With group norm (wav2vec2-base) the
        first layer's
        statistics span the whole time axis, so padding would change the features: those
        models run one wave at a time; layer-norm models run as a batch.
        """
        if wave.dim() != 2 or wave.shape != wave_mask.shape:
            raise ValueError(
                f"wave and wave_mask must both be (B, S), got {tuple(wave.shape)}, "
                f"{tuple(wave_mask.shape)}"
            )
        lengths = wave_mask.sum(dim=1)  # (B,)
        if (lengths == 0).any():
            raise ValueError("extract_features: a wave has no valid samples")
        wave = wave.float() * wave_mask
        mean = wave.sum(1, keepdim=True) / lengths[:, None]
        var = ((wave - mean) ** 2 * wave_mask).sum(1, keepdim=True) / lengths[:, None]
        wave = (wave - mean) / torch.sqrt(var + 1e-7) * wave_mask
        conv = self.backbone.feature_extractor
        # (B,)
        frame_lengths = self.backbone._get_feat_extract_output_lengths(lengths).long()
        t_max = int(frame_lengths.max())
        if self.backbone.config.feat_extract_norm == "group":
            feats = wave.new_zeros(wave.shape[0], t_max, self.feature_dim)  # (B, T, C)
            for i, n in enumerate(lengths.tolist()):
                one = conv(wave[i : i + 1, :n]).transpose(1, 2)[0]  # (T_i, C)
                feats[i, : one.shape[0]] = one
        else:
            feats = conv(wave).transpose(1, 2)[:, :t_max]  # (B, T, C)
        # (B, T)
        feat_mask = (
            torch.arange(t_max, device=wave.device)[None, :] < frame_lengths[:, None]
        )
        return feats * feat_mask[..., None], feat_mask

    def forward(
        self,
        feats: torch.Tensor,
        feat_mask: torch.Tensor,
        lang: str | Sequence[str],
        keys: Sequence[bytes] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached features (B, T, C) -> frames (B, T, D) and their masked mean (B, D).

        ``lang``: the language of every row, or one language per row (B names): then
        the rows of several languages go through the encoder in one call, each row
        through its own language's adapters (instead of a loop over languages, issue 8).
        ``keys``: every row's :func:`~mlcl_core.features.clip_key`, when known (the
        frozen prefix's memo then need not hash the rows).
        """
        names = [lang] if isinstance(lang, str) else list(lang)
        unknown = sorted(set(names) - set(self.languages))
        if unknown:
            raise ValueError(
                f"unknown language {unknown[0]!r} for the audio adapters; known: "
                f"{', '.join(self.languages)}"
            )
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
        if self.memo_prefix and self.frozen_prefix.applies(feats):
            # (B, T, D)
            frames = self.frozen_prefix.encode(feats, feat_mask, self.route, keys)
        else:
            hidden, _ = self.backbone.feature_projection(feats)  # (B, T, D)
            # (B, T, D)
            frames = self.backbone.encoder(
                hidden, attention_mask=feat_mask
            ).last_hidden_state
        weights = feat_mask.unsqueeze(-1).to(frames.dtype)  # (B, T, 1)
        pooled = (frames * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, D)
        return frames, pooled

    def attention_weights(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """SimAdapter attention of the last forward, averaged over valid frames:
        (layers, N).

        ``rows`` (B,) bool restricts the average to those rows. Empty (0, N) for other
        kinds or outside fusion mode.
        """
        if not self.route.attention:
            return torch.zeros(0, len(self.languages))
        frame_mask = self.route.frame_mask
        if rows is not None:
            frame_mask = frame_mask & rows[:, None]
        mask = frame_mask.unsqueeze(-1).to(self.route.attention[0].dtype)  # (B, T, 1)
        return torch.stack(
            [(a * mask).sum((0, 1)) / mask.sum() for a in self.route.attention]
        )

    def regularization(self, lang: str) -> torch.Tensor:
        """SimAdapter's regularisers for the last forward (on ``lang``); 0 for other
        kinds.

        ``sim_value_reg * sum_layers ||I - W_V||_F^2 + sim_guide_weight * mean_layers
        CE(mean attention, lang)``; the guide term only exists after a fusion-mode
        forward, over ``lang``'s rows when that forward held several languages."""
        device = next(self.backbone.parameters()).device
        if self.adapter_cfg.kind != "simadapter":
            return torch.zeros((), device=device)
        blocks = self.adapter_blocks()
        value = sum(b.fusion.value_penalty() for b in blocks)
        total = self.adapter_cfg.sim_value_reg * value
        route = self.route
        if route.attention and (route.lang == lang or lang in route.row_names):
            index = self.languages.index(lang)
            rows = None if route.row_lang is None else route.row_lang == index
            mean_att = self.attention_weights(rows).clamp(min=1e-8)  # (layers, N)
            guide = -mean_att[:, index].log().mean()
            total = total + self.adapter_cfg.sim_guide_weight * guide
        return total


def build_audio_encoder(
    cfg: AudioEncoderConfig, adapter_cfg: AdapterConfig, languages: Sequence[str]
) -> AudioEncoder:
    """The :class:`AudioEncoder` that ``cfg`` and ``adapter_cfg`` describe.

    ``cfg.name_or_path`` None: random init of ``cfg``'s geometry. Otherwise that hub id
    or local directory (a ``Wav2Vec2Model`` or ``Wav2Vec2ForCTC`` checkpoint): its
    weights when ``pretrained``, its geometry at random init otherwise. LayerDrop and
    SpecAugment are off."""
    from transformers import AutoConfig, Wav2Vec2Model

    from mlcl_core.display import quiet_transformers

    if cfg.pretrained:
        with quiet_transformers():
            backbone = Wav2Vec2Model.from_pretrained(
                cfg.name_or_path, layerdrop=0.0, mask_time_prob=0.0
            )
    else:
        conf = (
            wav2vec2_config(cfg)
            if cfg.name_or_path is None
            else AutoConfig.from_pretrained(
                cfg.name_or_path, layerdrop=0.0, mask_time_prob=0.0
            )
        )
        # a fixed random "checkpoint"; the run's RNG is untouched
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.init_seed)
            backbone = Wav2Vec2Model(conf)
    return AudioEncoder(
        backbone, adapter_cfg, languages, freeze_backbone=cfg.freeze_backbone
    )
