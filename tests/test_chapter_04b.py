"""Chapter 4b smoke run: the simulated imbalance on a SIB-200 subset, 1 epoch."""

from __future__ import annotations

import json

import pytest
from conftest import notebook_text


@pytest.mark.slow
def test_chapter_04b_runs_the_simulated_setting(run_chapter, tmp_path):
    nb = run_chapter(
        "04b_imbalance",
        subset=16,
        seeds=[0],
        balanced_seeds=[0],
        num_epochs=1,
        max_evals=1,
        meta_steps=1,
        max_seconds=2.0,
        retrieval_epochs=1,
        mechanisms=["vocabulary"],
        compare_speech_norm=True,
        retrieval_random_audio=True,
        results_dir=str(tmp_path),
        progress=False,
    )
    text = notebook_text(nb)
    # the pre-training mix and the vocabulary: no Tibetan, Tibetan mostly [UNK]
    assert "pool: 87 languages" in text and "tiny mBERT checkpoint" in text
    assert "of bod_Tibt's tokens are [UNK]" in text
    assert "MLCL uses alpha=" in text
    assert "balanced (from scratch)" in text and "simulated (checkpoints)" in text
    assert "MLCL minus BERT-Combined: M " in text and "the noise" in text
    assert "BERT-Combined, vocabulary only" in text
    assert "mean top-1 before" in text and "MCL per epoch" in text
    assert "cosine_centred" in text and "common_share" in text
    assert "On dev, standardising the speech vectors changes" in text
    assert "equally similar: 6.87" in text  # 2 ln(2 x 16 - 1), chapter 3's batch
    assert "From scratch, BERT-Combined has G" in text
    assert "**Speech encoder** (retrieval after training, test): frozen random" in text
    assert "clearly below the equal-similarity level 6.87" in text
    assert "MLCL lowers G by >= 25 %" in text and "retrieval" in text
    assert "LOAD REPORT" not in text  # the unused MLM / CTC heads are not reported
    assert "105879-piece vocabulary" in text
    # stored runs: the imbalance experiment holds the balanced and simulated runs
    runs = [
        json.loads(p.read_text())
        for p in (tmp_path / "sib200-imbalance").glob("*.json")
    ]
    texts = {r["system"]: [] for r in runs}
    for r in runs:
        texts[r["system"]].append(r["config"]["text"]["name_or_path"])
    assert sorted(texts) == ["combined", "mlcl", "tfidf-mlp"]
    assert sum(p is not None and p.endswith("tiny-mbert") for p in texts["mlcl"]) == 1
    # combined: from scratch, from the checkpoint, and its vocabulary only
    assert len(texts["combined"]) == 3
    # two test retrieval runs (checkpoint, random audio), two dev runs (speech_norm)
    stored = [
        json.loads(p.read_text())
        for p in (tmp_path / "sib200-imbalance-retrieval").glob("*.json")
    ]
    assert sorted(r["run_id"].split("-")[1] for r in stored) == [
        "dev",
        "dev",
        "test",
        "test",
    ]
    assert all(r["chance"] == pytest.approx(1 / 16) for r in stored)
