"""Chapter 6's library side: ablation rows as config overrides with distinct run ids,
the speech-free text + LCL system, and the paper's Table 4/5 rows."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import tiny_bert

from mlcl_core.ablations import (
    Ablation,
    ablation_configs,
    ablation_summary,
    run_ablations,
    tau_configs,
)
from mlcl_core.config import make_config
from mlcl_core.corpora import load_from_config
from mlcl_core.losses import nt_xent
from mlcl_core.results import run_id
from mlcl_core.systems import SYSTEMS, run_system
from mlcl_core.tables import SYSTEM_NAMES, reference_table
from mlcl_core.textlcl import TextLCLClassifier, text_lcl_loss

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


def test_ablation_rows_override_the_full_config_with_distinct_run_ids():
    cfg = make_config("tiny", languages=LANGS)
    rows = ablation_configs(cfg)
    by = {r.name: r for r in rows}
    assert rows[0].config == cfg and rows[0].system == "mlcl"
    assert by["MLCL w/o LCL"].config.loss.beta == 0
    assert by["MLCL w/o LCL"].config.loss.alpha == cfg.loss.alpha
    assert by["MLCL w/o MCL"].config.loss.alpha == 0
    assert by["MLCL w/o adapters"].config.adapter.kind == "none"
    speech_free = by["w/o speech (text encoder + LCL)"]
    assert speech_free.system == "text+lcl" and not SYSTEMS["text+lcl"].speech
    assert by["MLCL, segments alignment"].config.fusion.align == "segments"
    assert by["MLCL, [CLS] without audio"].config.fusion.cls_audio is False
    ids = {run_id(r.system, r.config, 0) for r in rows}
    assert len(ids) == len(rows) == 7
    assert all(r.system in SYSTEMS for r in rows)
    with pytest.raises(ValueError, match="full model"):
        ablation_configs(make_config("tiny", beta=0.0))


def test_tau_curve_rows_differ_only_in_tau():
    cfg = make_config("tiny")
    rows = tau_configs(cfg, [0.05, 0.1, 0.5])
    assert [r.config.loss.tau for r in rows] == [0.05, 0.1, 0.5]
    assert len({run_id(r.system, r.config, 1) for r in rows}) == 3
    assert rows[1].name == "MLCL, tau = 0.1"
    for bad in ([], [0.1, 0.1], [0.0]):
        with pytest.raises(ValueError, match="taus"):
            tau_configs(cfg, bad)


def test_text_lcl_loss_is_the_mean_of_pairwise_nt_xent():
    torch.manual_seed(0)
    emb = torch.randn(3, 4, 5)
    want = (
        nt_xent(emb[0], emb[1], 0.1)
        + nt_xent(emb[0], emb[2], 0.1)
        + nt_xent(emb[1], emb[2], 0.1)
    ) / 3
    assert torch.allclose(text_lcl_loss(emb, 0.1), want)
    assert text_lcl_loss(emb[:1], 0.1).item() == 0.0


def test_text_lcl_classifier_weights_ce_and_lcl_by_beta():
    loss_cfg = make_config("tiny", beta=0.3, proj_dim=8).loss
    model = TextLCLClassifier(tiny_bert(0), 3, dropout=0.0, loss_cfg=loss_cfg).eval()
    batch = {
        "input_ids": torch.randint(5, 50, (2, 4, 6)),
        "attention_mask": torch.ones(2, 4, 6, dtype=torch.long),
        "y": torch.tensor([0, 1, 2, 1]),
    }
    out = model(batch)
    assert out.logits.shape == (8, 3) and out.extras["text_emb"].shape == (2, 4, 8)
    want = 0.7 * out.parts["ce"] + 0.3 * out.parts["lcl"]
    assert out.loss.item() == pytest.approx(want, rel=1e-5)
    assert out.parts["lcl"] > 0


def test_speech_free_row_trains_stores_and_summarises(tmp_path):
    cfg = make_config(
        "tiny",
        languages=LANGS[:2],
        subset=16,
        num_epochs=1,
        batch_size=8,
        vocab_size=300,
        **{"text.hidden_size": 32, "text.num_layers": 1, "text.intermediate_size": 64},
    )
    corpus = load_from_config(cfg.data)
    row = ablation_configs(cfg)[4]
    rec = run_system(
        row.config, row.system, 0, tmp_path, "t5", corpus, progress=False, n_boot=20
    )
    assert rec["system"] == "text+lcl" and len(rec["predictions"]) == 2 * 16
    summary = ablation_summary({row.name: [rec], "again": [rec]}, n_boot=20)
    assert list(summary.index) == [row.name, "again"]
    assert "text+lcl" in SYSTEM_NAMES
    # run_ablations loads the stored run instead of training it again
    combined = Ablation("BERT-Combined", "combined", cfg)
    got = run_ablations(
        [row, combined], [0], tmp_path, "t5", corpus, progress=False, n_boot=20
    )
    assert got[row.name][0]["run_id"] == rec["run_id"]
    assert got[row.name][0]["timings"] == rec["timings"]  # loaded, not retrained
    assert got["BERT-Combined"][0]["system"] == "combined"
    with pytest.raises(ValueError, match="distinct rows"):
        run_ablations([row, row], [0], tmp_path, "t5", corpus, progress=False)
    smaller = replace(cfg, data=replace(cfg.data, train_sentences=8))
    with pytest.raises(ValueError, match="one data config"):
        run_ablations(
            [row, Ablation("small", "combined", smaller)], [0], tmp_path, "t5", corpus
        )
    # without a given corpus each data config loads its own (here: 8 train sentences)
    mixed = run_ablations(
        [Ablation("small", "combined", smaller), row],
        [0],
        tmp_path,
        "t5",
        progress=False,
        n_boot=20,
    )
    assert list(mixed) == ["small", row.name]
    assert mixed["small"][0]["config"]["data"]["train_sentences"] == 8


def test_paper_tables_4_and_5_are_served_as_fractions():
    t4, t5 = reference_table("table4"), reference_table("table5")
    assert list(t4.index.get_level_values("system")) == ["SimAdapter", "MetaAdapter"]
    assert t4["bod_Tibt"].iloc[0] == pytest.approx(0.5561)
    assert len(t5) == 4 and t5["G"].iloc[-1] == pytest.approx(0.1655)
    assert t5["M"].iloc[1] == pytest.approx(0.6364)
