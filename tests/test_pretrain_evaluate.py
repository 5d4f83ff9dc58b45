"""The checkpoints' evaluation helpers: text <-> speech retrieval per language and the
paired bootstrap of MLCL minus BERT-Combined, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcl_core.pretrain.evaluate import paired_difference, text_speech_retrieval


def test_retrieval_finds_own_speech_only_where_it_matches():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(2, 5, 4))
    speech = text.copy()
    speech[1] = speech[1][[1, 2, 3, 4, 0]]  # language b: every clip is another's
    emb = {"langs": ["a", "b"], "text_emb": text, "speech_emb": speech}
    got = text_speech_retrieval(emb).set_index("lang")
    assert got.loc["a", "text_to_speech"] == got.loc["a", "speech_to_text"] == 1.0
    assert got.loc["b", "text_to_speech"] == got.loc["b", "speech_to_text"] == 0.0


def _preds(correct: dict[str, list[bool]]) -> pd.DataFrame:
    rows = [
        {"id": i, "lang": lang, "y": 1, "y_hat": 1 if ok else 0}
        for lang, oks in correct.items()
        for i, ok in enumerate(oks)
    ]
    return pd.DataFrame(rows)


def test_paired_difference_of_g_and_m():
    a = _preds({"x": [True] * 4, "y": [True, False, False, False]})  # 1.0, 0.25
    b = _preds({"x": [True] * 4, "y": [True] * 4})  # balanced, all right
    got = paired_difference(a, b, n_boot=200, seed=1)
    assert got["M"]["difference"] == pytest.approx(1.0 - 0.625)
    assert got["G"]["difference"] == pytest.approx(0.0 - 0.3)  # G(1, .25) = 0.3
    assert got["G"]["low"] <= got["G"]["difference"] <= got["G"]["high"]
    same = paired_difference(a, a, n_boot=50)
    assert same["M"] == {"difference": 0.0, "low": 0.0, "high": 0.0}


def test_similarity_stats_by_hand():
    from mlcl_core.pretrain.evaluate import similarity_stats

    same = similarity_stats(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]))
    assert same["cosine"] == pytest.approx(1.0)
    assert same["common_share"] == pytest.approx(1.0)
    # a common offset (3, 0) plus +-(0, 1): cosine 8/10 raw, -1 centred, share 9/10
    x = np.array([[3.0, 1.0], [3.0, -1.0]])
    stats = similarity_stats(x)
    assert stats["cosine"] == pytest.approx(0.8)
    assert stats["cosine_centred"] == pytest.approx(-1.0)
    assert stats["common_share"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="two vectors"):
        similarity_stats(np.ones((1, 3)))
