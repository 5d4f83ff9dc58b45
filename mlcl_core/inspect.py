"""Looking inside built models: parameter counts per component, adapters' identity
gap."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import torch
from torch import nn

from mlcl_core.adapters import SIM_MODES
from mlcl_core.config import AdapterConfig, AudioEncoderConfig, ExperimentConfig
from mlcl_core.encoders import AudioEncoder, bert_config, build_audio_encoder


def parameter_counts(audio_encoder: AudioEncoder, text_model: nn.Module | None = None):
    """Parameters per component, total / trainable / frozen, as a pandas DataFrame.

    Components: text encoder, audio feature extractor (convolutions), audio transformer
    (feature projection, positional convolution and layers), adapters, fusion
    (SimAdapter). Works on models built on the ``meta`` device (shapes only)."""
    rows: dict[str, list[int]] = {}

    def add(component: str, p: nn.Parameter) -> None:
        row = rows.setdefault(component, [0, 0])
        row[0 if p.requires_grad else 1] += p.numel()

    for p in text_model.parameters() if text_model is not None else []:
        add("text encoder", p)
    for name, p in audio_encoder.named_parameters():
        if ".adapters.fusion." in name:
            add("fusion", p)
        elif ".adapters." in name:
            add("adapters", p)
        elif name.startswith("backbone.feature_extractor."):
            add("audio feature extractor", p)
        else:
            add("audio transformer", p)
    table = pd.DataFrame(
        [
            {"component": c, "trainable": t, "frozen": f, "total": t + f}
            for c, (t, f) in rows.items()
        ]
    )
    return table


def identity_gap(
    audio_cfg: AudioEncoderConfig,
    adapter_cfg: AdapterConfig,
    languages: Sequence[str],
    feats: torch.Tensor,
    feat_mask: torch.Tensor,
    seed: int,
) -> float:
    """Largest |wrapped - base| over every language (and SimAdapter mode) at
    initialisation.

    Builds a backbone, keeps an untouched copy, wraps the original with fresh adapters
    and runs both on ``feats`` (B, T, C): 0 means the adapters start as the identity.
    """
    torch.manual_seed(seed)
    backbone = build_audio_encoder(
        audio_cfg, replace(adapter_cfg, kind="none"), languages
    ).backbone.eval()
    base = copy.deepcopy(backbone)
    wrapped = AudioEncoder(backbone, adapter_cfg, languages).eval()
    gap = 0.0
    with torch.no_grad():
        expected = base.encoder(
            base.feature_projection(feats)[0], attention_mask=feat_mask
        ).last_hidden_state
        for mode in SIM_MODES if adapter_cfg.kind == "simadapter" else ("fusion",):
            wrapped.set_mode(mode)
            for lang in languages:
                frames, _ = wrapped(feats, feat_mask, lang)
                gap = max(gap, float((frames - expected)[feat_mask].abs().max()))
    return gap


def geometry_parameter_counts(
    cfg: ExperimentConfig, kinds: Sequence[str] = ("simadapter", "metaadapter", "none")
):
    """Parameter counts of ``cfg``'s encoder geometry for each adapter kind, without
    weights.

    The models are built on the ``meta`` device from the geometry fields of ``cfg.text``
    and ``cfg.audio`` (a named checkpoint is not read), at ``cfg.text.vocab_size``:
    shapes only, no memory and no download, so the paper geometry is counted in a second
    on a CPU."""
    from transformers import BertModel  # heavy: imported when a model is built

    audio_cfg = replace(cfg.audio, name_or_path=None, pretrained=False)
    tables = []
    with torch.device("meta"):
        text = BertModel(
            bert_config(cfg.text, cfg.text.vocab_size), add_pooling_layer=False
        )
        for kind in kinds:
            audio = build_audio_encoder(
                audio_cfg, replace(cfg.adapter, kind=kind), cfg.data.languages
            )
            tables.append(
                parameter_counts(audio, text).assign(profile=cfg.profile, kind=kind)
            )
    return pd.concat(tables, ignore_index=True)
