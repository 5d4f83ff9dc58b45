"""Inspecting built models: parameter counts per component, the adapters' identity
gap."""

from __future__ import annotations

import pytest
import torch

from mlcl_core.config import make_config
from mlcl_core.encoders import build_audio_encoder
from mlcl_core.inspect import geometry_parameter_counts, identity_gap, parameter_counts

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


def test_parameter_counts_split_components():
    cfg = make_config("tiny", **{"adapter.kind": "simadapter"})
    encoder = build_audio_encoder(cfg.audio, cfg.adapter, LANGS)
    table = parameter_counts(encoder).set_index("component")
    # layers * langs * (LN + down + up)
    assert table.loc["adapters", "trainable"] == 2 * 3 * (2 * 128 + 2 * 128 * 32)
    assert table.loc["fusion", "trainable"] == 2 * (3 * 128 * 128 + 2 * 128)
    assert table.loc["audio feature extractor", "trainable"] == 0
    assert table.loc["audio transformer", "trainable"] == 0
    assert table["total"].sum() == sum(p.numel() for p in encoder.parameters())
    assert table["trainable"].sum() == sum(
        p.numel() for p in encoder.adapter_parameters()
    )


def test_geometry_counts_equal_a_built_model():
    cfg = make_config("tiny", languages=LANGS)
    counts = geometry_parameter_counts(cfg, ("simadapter", "none"))
    assert set(counts["kind"]) == {"simadapter", "none"} and set(counts["profile"]) == {
        "tiny"
    }
    built = build_audio_encoder(
        cfg.audio, make_config("tiny", **{"adapter.kind": "simadapter"}).adapter, LANGS
    )
    sim = counts[
        (counts["kind"] == "simadapter") & (counts["component"] != "text encoder")
    ]
    assert sim["total"].sum() == sum(p.numel() for p in built.parameters())
    assert counts[counts["kind"] == "none"]["component"].tolist().count("adapters") == 0


@pytest.mark.parametrize("kind", ["simadapter", "metaadapter", "none"])
def test_adapters_start_as_the_identity(kind):
    cfg = make_config("tiny", languages=LANGS, **{"adapter.kind": kind})
    feats = torch.randn(
        2, 7, cfg.audio.conv_dim[-1], generator=torch.Generator().manual_seed(0)
    )
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    assert identity_gap(cfg.audio, cfg.adapter, LANGS, feats, mask, seed=0) < 1e-5
