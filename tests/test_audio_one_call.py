"""One audio-encoder call for all languages of a batch equals the loop over languages.

The speed path of issue 8 routes each row of one (K*B)-row call to its language's
adapters; the loss, its parts and every gradient must equal the loop's (SimAdapter's
guide term reads each language's rows only). Speech is seeded noise: only the arithmetic
is under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SMALL_MODEL, uncached

from mlcl_core.batching import ParallelDataset, collate
from mlcl_core.config import make_config
from mlcl_core.corpora import load_sib200
from mlcl_core.features import corpus_features
from mlcl_core.model import build_mlcl

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
SMALL = {
    **SMALL_MODEL,
    "max_seconds": 1.0,
    "max_text_len": 24,
    "text.dropout": 0.0,
    "fusion.dropout": 0.0,
    "alpha": 0.3,
    "beta": 0.3,
}


def _load_wave(path: str) -> np.ndarray:
    rng = np.random.default_rng(list(path.encode()))
    return (0.1 * rng.standard_normal(int(16_000 * rng.uniform(0.5, 1.0)))).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def built():
    corpus = load_sib200(languages=LANGS).select(subset=6)
    speech = pd.DataFrame(
        [
            (str(i), lang, f"noise/{lang}/{i}")
            for lang in LANGS
            for i in corpus.table["id"]
        ],
        columns=["id", "lang", "path"],
    )
    out = {}
    for kind in ("simadapter", "metaadapter"):
        cfg = uncached(make_config("tiny", **{**SMALL, "adapter.kind": kind}))
        model = build_mlcl(cfg, corpus)
        feats = corpus_features(cfg, corpus, speech, model.audio_encoder, _load_wave)
        tokenizer = model.tokenizer
        # adapters away from the identity
        for block in model.audio_encoder.adapter_blocks():
            for p in block.parameters():
                torch.nn.init.normal_(p, std=0.1)
        ds = ParallelDataset(
            corpus, "train", tokenizer, LANGS, cfg.data.max_text_len, feats
        )
        out[kind] = (model, collate([ds[i] for i in range(len(ds))]))
    return out


def _loss_and_grads(model, batch, one_call: bool):
    model.audio_one_call = one_call
    model.zero_grad(set_to_none=True)
    model.train()
    out = model(batch)
    out.loss.backward()
    grads = {
        n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
    }
    return out, grads


@pytest.mark.parametrize("kind", ["simadapter", "metaadapter"])
def test_one_call_equals_the_loop_over_languages(built, kind):
    model, batch = built[kind]
    loop, g_loop = _loss_and_grads(model, batch, one_call=False)
    one, g_one = _loss_and_grads(model, batch, one_call=True)
    assert one.loss.item() == pytest.approx(loop.loss.item(), rel=1e-5)
    assert one.parts == pytest.approx(loop.parts, rel=1e-5, abs=1e-7)
    if kind == "simadapter":
        assert loop.parts["reg"] > 0  # the guide term is in play
    assert g_one.keys() == g_loop.keys()
    assert any(".adapters." in n for n in g_one)
    for name, g in g_loop.items():
        torch.testing.assert_close(g_one[name], g, rtol=1e-4, atol=1e-6, msg=name)


def test_single_mode_routes_each_row_to_its_own_adapter(built):
    model, batch = built["simadapter"]
    enc = model.audio_encoder.eval()
    enc.set_mode("single")
    try:
        feats, mask = (
            batch["audio_feats"],
            batch["audio_mask"],
        )  # (K, B, T, C), (K, B, T)
        k, b = feats.shape[:2]
        with torch.no_grad():
            loop = torch.cat(
                [enc(feats[x], mask[x], lang)[0] for x, lang in enumerate(LANGS)]
            )
            rows = [lang for lang in LANGS for _ in range(b)]
            one = enc(feats.flatten(0, 1), mask.flatten(0, 1), rows)[0]
            same = enc(feats.flatten(0, 1), mask.flatten(0, 1), [LANGS[0]] * (k * b))[0]
        valid = mask.flatten(0, 1)
        torch.testing.assert_close(one[valid], loop[valid], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(
            same[valid], loop[valid], atol=1e-4
        )  # routing matters
    finally:
        enc.set_mode("fusion")
    with pytest.raises(ValueError, match="row languages"):
        enc(feats.flatten(0, 1), mask.flatten(0, 1), rows[:-1])
