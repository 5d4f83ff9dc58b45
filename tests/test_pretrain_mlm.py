"""The tiny mBERT: its pool, masking, and a small run shaped like the shipped one."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from mlcl_core.config import TextEncoderConfig
from mlcl_core.pretrain import CHECKPOINT_DIR, TEXT_CHECKPOINT
from mlcl_core.pretrain.mlm import MLMSettings, mask_tokens, pretrain_mlm, read_pool

EMBEDDED = Path(__file__).resolve().parents[1] / "mlcl_core" / "data" / "sib200"
POOL_LANGS = ("eng_Latn", "zho_Hans", "mya_Mymr")


def test_pool_reads_training_splits_only_and_weights_them():
    texts, counts = read_pool(
        EMBEDDED, {"zho_Hans": 3}, languages=POOL_LANGS, max_per_language=20
    )
    assert counts == {"eng_Latn": 20, "zho_Hans": 60, "mya_Mymr": 20}
    held = set()
    for lang in POOL_LANGS:
        for split in ("dev", "test"):
            held |= set(
                pd.read_csv(EMBEDDED / lang / f"{split}.tsv", sep="\t", quoting=3)[
                    "text"
                ]
            )
    assert not held & set(texts)


def test_pool_refuses_tibetan_script():
    with pytest.raises(ValueError, match="Tibt"):
        read_pool(EMBEDDED, languages=("zho_Hans", "bod_Tibt"))
    with pytest.raises(ValueError, match="no train.tsv"):
        read_pool(EMBEDDED, languages=("xyz_Latn",))


def test_masking_spares_special_tokens_and_follows_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (64, 200))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(ids, special, 1000, 4, 0.15, g)
    chosen = labels != -100
    assert not chosen[:, 0].any()
    assert 0.13 < chosen.float().mean() < 0.17
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (inputs[chosen] == 4).float().mean()
    kept = (inputs[chosen] == ids[chosen]).float().mean()
    assert 0.77 < masked < 0.83 and 0.07 < kept < 0.14
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_small_run_has_the_shipped_shape_and_loads_with_from_pretrained(tmp_path):
    from transformers import BertModel

    from mlcl_core.encoders import build_text_encoder

    texts, _ = read_pool(EMBEDDED, languages=POOL_LANGS, max_per_language=40)
    settings = MLMSettings(vocab_size=400, steps=3, batch_size=8)
    summary = pretrain_mlm(texts, settings, tmp_path, log_every=1)
    assert [p["step"] for p in summary["loss_curve"]] == [1, 2, 3]
    tokenizer, model = build_text_encoder(
        TextEncoderConfig(name_or_path=str(tmp_path), pretrained=True)
    )
    saved = BertModel.from_pretrained(tmp_path, add_pooling_layer=False)
    for name, tensor in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), (
            name
        )  # loaded, not re-initialised
    assert "်" in "".join(
        tokenizer.convert_ids_to_tokens(tokenizer("ရေအောက်")["input_ids"])
    )
    shipped = CHECKPOINT_DIR / TEXT_CHECKPOINT
    ref = BertModel.from_pretrained(shipped, add_pooling_layer=False).state_dict()
    small = model.state_dict()
    assert set(small) == set(ref)
    vocab_dependent = {"embeddings.word_embeddings.weight"}
    assert all(small[k].shape == ref[k].shape for k in ref if k not in vocab_dependent)
    tiny = TextEncoderConfig()
    conf = json.loads((shipped / "config.json").read_text())
    assert (
        conf["hidden_size"],
        conf["num_hidden_layers"],
        conf["num_attention_heads"],
    ) == (tiny.hidden_size, tiny.num_layers, tiny.num_heads)
    assert (
        json.loads((shipped / "provenance.json").read_text())["data"]["split"]
        == "train only"
    )


def test_uncased_option_lowercases_and_survives_a_reload(tmp_path):
    from transformers import AutoTokenizer

    from mlcl_core.encoders import train_wordpiece_tokenizer

    texts = ["The Weather Is Nice Today.", "Café au lait", "ရေအောက်"] * 20
    for uncased, expect in ((True, "the"), (False, "The")):
        tok = train_wordpiece_tokenizer(texts, 200, uncased=uncased)
        tok.save_pretrained(tmp_path / str(uncased))
        again = AutoTokenizer.from_pretrained(tmp_path / str(uncased))
        for t in (tok, again):
            assert t.tokenize("The weather")[0] == expect
