"""The simulated-imbalance helpers of chapter 4b: configs, rows, pre-training mix,
vocabulary, side-by-side table, targets and prose, retrieval figure, speech_norm."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from mlcl_core import imbalance
from mlcl_core.config import make_config
from mlcl_core.pretrain import AUDIO_CHECKPOINT, TEXT_CHECKPOINT, checkpoint_path

LANGS = ["zho_Hans", "bod_Tibt", "mya_Mymr"]


def test_simulated_config_loads_the_shipped_checkpoints_and_checks_paths(tmp_path):
    sim = imbalance.simulated_config(make_config("tiny"))
    assert sim.text.name_or_path == checkpoint_path(TEXT_CHECKPOINT)
    assert sim.audio.name_or_path == checkpoint_path(AUDIO_CHECKPOINT)
    assert sim.text.pretrained and sim.audio.pretrained
    with pytest.raises(FileNotFoundError, match="text checkpoint"):
        imbalance.simulated_config(make_config("tiny"), text_path=str(tmp_path))


def test_rows_change_one_thing_each():
    base = make_config("tiny")
    sim = imbalance.simulated_config(base)
    loss = make_config("tiny", alpha=0.2, beta=0.3, tau=0.5).loss
    rows = imbalance.imbalance_rows(sim, loss, base, ["vocabulary", "speech", "losses"])
    by = {r.name: r for r in rows}
    assert [r.name for r in rows[:2]] == [imbalance.COMBINED, imbalance.MLCL]
    assert by[imbalance.COMBINED].config == sim
    assert by[imbalance.MLCL].config.loss == loss
    vocab = by[imbalance.VOCAB_ONLY].config
    assert vocab.text.name_or_path == sim.text.name_or_path
    assert not vocab.text.pretrained and by[imbalance.VOCAB_ONLY].system == "combined"
    random_audio = by[imbalance.RANDOM_AUDIO].config
    assert random_audio.audio == base.audio and random_audio.text == sim.text
    assert by[imbalance.NO_MCL].config.loss.alpha == 0.0
    assert by[imbalance.NO_MCL].config.loss.beta == 0.3
    assert by[imbalance.NO_LCL].config.loss.beta == 0.0
    assert len(imbalance.imbalance_rows(sim, loss, base)) == 2
    with pytest.raises(ValueError, match="unknown mechanism"):
        imbalance.imbalance_rows(sim, loss, base, ["tokenizer"])


def test_pretraining_mix_by_hand(tmp_path):
    prov = {
        "data": {"sentences_per_language": {"zho_Hans": 10, "mya_Mymr": 10, "x": 20}},
        "settings": {"weights": {"zho_Hans": 3}},
    }
    (tmp_path / "provenance.json").write_text(json.dumps(prov))
    mix = imbalance.pretraining_mix(str(tmp_path), LANGS)
    # weighted pool: 30 + 10 + 20 = 60
    assert mix.loc["zho_Hans", "share"] == pytest.approx(0.5)
    assert mix.loc["mya_Mymr", "share"] == pytest.approx(1 / 6)
    assert mix.loc["bod_Tibt", "sentences"] == 0 and mix.attrs["languages_in_pool"] == 3
    with pytest.raises(FileNotFoundError):
        imbalance.pretraining_mix(str(tmp_path / "none"), LANGS)


def test_shipped_checkpoint_saw_no_tibetan_and_chinese_weighted_up():
    mix = imbalance.pretraining_mix(checkpoint_path(TEXT_CHECKPOINT), LANGS)
    assert mix.loc["bod_Tibt", "share"] == 0
    assert mix.loc["zho_Hans", "share"] > mix.loc["mya_Mymr", "share"] > 0


def test_vocabulary_table_counts_unknown_pieces():
    from mlcl_core.encoders.text import train_wordpiece_tokenizer

    tok = train_wordpiece_tokenizer(["abc abd abe", "abc abc"] * 20, 200)
    table = imbalance.vocabulary_table(
        {"latin": tok}, {"eng": ["abc abd"], "bod": ["བོད ཡིག"]}
    )
    assert table.loc["eng", ("latin", "[UNK]")] == 0
    assert table.loc["bod", ("latin", "[UNK]")] == 1
    assert table.loc["bod", ("latin", "median tokens")] == 2


def _summary(rows: dict[str, list[float]]) -> pd.DataFrame:
    cols = [*LANGS, "G", "M"]
    df = pd.DataFrame(rows, index=cols).T
    for c in cols:
        df[f"{c}_std"], df[f"{c}_low"], df[f"{c}_high"] = np.nan, df[c], df[c]
    return df


def test_side_by_side_and_missing_columns():
    a = _summary({"combined": [0.6, 0.6, 0.6, 0.0, 0.6]})
    b = _summary({"combined": [0.5, 0.1, 0.3, 0.3, 0.3]})
    both = imbalance.side_by_side({"bal": a, "sim": b}, LANGS, {"combined": "C"})
    assert both.loc[("sim", "C"), "bod_Tibt"] == 0.1
    assert list(both.columns) == [*LANGS, "G", "M"]
    with pytest.raises(ValueError, match="lacks columns"):
        imbalance.side_by_side({"x": a.drop(columns="G")}, LANGS)


def test_target_lines_say_met_and_not_met():
    sim = _summary(
        {"combined": [0.5, 0.1, 0.3, 0.3, 0.3], "mlcl": [0.5, 0.3, 0.3, 0.1, 0.37]}
    )
    bal = _summary(
        {"mlcl": [0.6] * 3 + [0.02, 0.6], "tfidf-mlp": [0.7] * 3 + [0.03, 0.7]}
    )
    diff = {"G": (-0.2, -0.3, -0.1), "M": (0.07, 0.0, 0.1)}
    lines = imbalance.target_lines(sim, diff, 0.05, [8.0, 7.0], LANGS, "bod_Tibt", bal)
    assert "G 0.300 **met**" in lines[0] and "weakest is bod_Tibt" in lines[0]
    assert "(+67%; difference" in lines[1] and lines[1].count("**met**") == 1
    assert "0.050 **not met**" in lines[2] and "(8.00 -> 7.00) **met**" in lines[2]
    assert "**not met**" in lines[3]
    # an interval that covers zero is not a significant reduction
    lines = imbalance.target_lines(
        sim,
        {"G": (-0.2, -0.3, 0.01), "M": (-0.01, -0.05, 0.03)},
        0.4,
        [7.0, 8.0],
        LANGS,
        "mya_Mymr",
    )
    assert len(lines) == 3 and "weakest is bod_Tibt" in lines[0]
    assert lines[0].endswith("**not met**.") and lines[1].count("**not met**") == 1
    assert "0.400 **met**" in lines[2] and "(7.00 -> 8.00) **not met**" in lines[2]
    # a G of 0 from predicting one label everywhere never counts as balance
    const = imbalance.target_lines(
        sim, diff, 0.4, [8.0], LANGS, "bod_Tibt", mlcl_labels=1.0
    )[1]
    assert "**not met**" in const and "a constant classifier" in const
    ok = imbalance.target_lines(sim, diff, 0.4, [8.0], LANGS, "bod_Tibt", mlcl_labels=7)
    assert "**met**" in ok[1] and "constant" not in ok[1]
    # a curve that falls only to the equal-similarity level has not aligned anything
    level = imbalance.target_lines(
        sim, diff, 0.4, [9.0, 6.86], LANGS, "bod_Tibt", mcl_level=6.87
    )[2]
    assert "below the equal-similarity level 6.87 (9.00 -> 6.86) **not met**" in level
    level = imbalance.target_lines(
        sim, diff, 0.4, [9.0, 5.0], LANGS, "bod_Tibt", mcl_level=6.87
    )[2]
    assert level.endswith("(9.00 -> 5.00) **met**.")
    # weakest, but its interval reaches the next language: not clearly the weakest
    sim.loc["combined", "bod_Tibt_high"] = 0.35
    lines = imbalance.target_lines(sim, diff, 0.4, [8.0], LANGS, "bod_Tibt")
    assert (
        "weakest is bod_Tibt (0.100 [0.100, 0.350]; next 0.300) **not met**"
        in (lines[0])
    )


def test_mechanism_lines_name_each_row_that_ran():
    from mlcl_core.encoders.text import train_wordpiece_tokenizer

    bal = _summary({"combined": [0.6, 0.6, 0.6, 0.01, 0.6]})
    rows = _summary(
        {
            imbalance.COMBINED: [0.5, 0.1, 0.3, 0.3, 0.3],
            imbalance.MLCL: [0.5, 0.2, 0.3, 0.2, 0.33],
            imbalance.NO_MCL: [0.5, 0.2, 0.3, 0.25, 0.32],
        }
    )
    tok = train_wordpiece_tokenizer(["abc abd"] * 20, 200)
    vocab = imbalance.vocabulary_table(
        {"corpus": tok, "ckpt": tok}, {lang: ["abc"] for lang in LANGS}
    )
    mix = pd.DataFrame({"share": [0.1, 0.0, 0.02]}, index=LANGS)
    lines = imbalance.mechanism_lines(bal, rows, vocab, mix, "bod_Tibt")
    text = "\n".join(lines)
    assert "zho_Hans 10.0%" in text and "bod_Tibt 0.0%" in text
    assert "from scratch G 0.010, M 0.600, from the checkpoint G 0.300" in text
    assert "**MCL**: MLCL without it: G 0.250" in text and "**LCL**" not in text
    rows.loc[imbalance.VOCAB_ONLY] = rows.loc[imbalance.COMBINED]
    rows.loc[imbalance.VOCAB_ONLY, "zho_Hans"] = 0.7
    text = "\n".join(imbalance.mechanism_lines(bal, rows, vocab, mix, "bod_Tibt"))
    assert "vocabulary alone: zho_Hans -0.200, bod_Tibt +0.000" in text


def test_simulation_paragraph_reads_the_provenance():
    text = imbalance.simulation_differences(
        checkpoint_path(TEXT_CHECKPOINT),
        checkpoint_path(AUDIO_CHECKPOINT),
        make_config("paper"),
    )
    assert "87 languages" in text and "105879-piece" in text
    assert "eng_Latn" in text and "never a dev or test one" in text


def test_speech_retrieval_figure_has_both_directions_and_chance():
    t = pd.DataFrame(
        {"lang": LANGS, "text_to_speech": [0.1, 0.2, 0.3], "speech_to_text": [0.0] * 3}
    )
    from mlcl_core.plots.embeddings import plot_speech_retrieval

    fig = plot_speech_retrieval({"before": t, "after": t}, 1 / 204)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["text → speech", "speech → text"]
    assert any(line.get_ydata()[0] == pytest.approx(1 / 204) for line in axes[0].lines)
    assert len(axes[0].patches) == 6
    fig = plot_speech_retrieval({"after": t}, 1 / 204, target=0.3)
    assert fig.axes[0].get_ylim()[1] >= 0.3
    assert any(line.get_ydata()[0] == 0.3 for line in fig.axes[1].lines)


def test_speech_norm_standardises_each_language():
    from conftest import SMALL_MODEL

    from mlcl_core.corpora import load_sib200
    from mlcl_core.model import build_mlcl

    corpus = load_sib200(languages=LANGS).select(subset=4)
    cfg = make_config("tiny", **SMALL_MODEL, speech_norm="language")
    model = build_mlcl(cfg, corpus).train()
    assert len(model.speech_norm) == 3
    b, d = 8, model.audio_encoder.hidden_size
    offsets = torch.tensor([5.0, -3.0, 50.0]).repeat_interleave(b)[:, None]
    pooled = torch.randn(3 * b, d) + offsets
    out = model._speech_norm(pooled, ["mya_Mymr", "zho_Hans", "bod_Tibt"], b)
    blocks = out.view(3, b, d)
    assert blocks.mean(1).abs().max() < 1e-4  # each language centred on its own
    assert torch.allclose(blocks.var(1, unbiased=False), torch.ones(3, d), atol=1e-2)
    plain = build_mlcl(make_config("tiny", **SMALL_MODEL), corpus)
    assert len(plain.speech_norm) == 0
    assert plain._speech_norm(pooled, LANGS, b) is pooled
    with pytest.raises(ValueError, match="speech_norm"):
        make_config("tiny", speech_norm="batch")


def test_retrieval_summary_reads_means_and_the_mcl_curve():
    run = {
        "mean_before": 0.01,
        "mean_after": 0.2,
        "chance": 0.005,
        "history": [{"train_mcl": 8.0}, {"train_mcl": 7.5}, {"train_mcl": 7.0}],
    }
    table = imbalance.retrieval_summary({"none": run})
    assert table.loc["none", "top-1 after"] == 0.2
    assert table.loc["none", "MCL first epoch"] == 8.0
    assert table.loc["none", "MCL last epoch"] == 7.0
