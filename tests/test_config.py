"""Experiment configs: presets, overrides and the errors they raise."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlcl_core.config import (
    PROFILES,
    ExperimentConfig,
    NgramConfig,
    check_loss_weights,
    check_parameters,
    make_config,
)


def test_presets_differ_where_the_paper_says():
    paper = PROFILES["paper"]
    assert paper.text.name_or_path == "bert-base-multilingual-uncased"
    assert paper.audio.name_or_path == "facebook/wav2vec2-base-960h"
    assert (paper.train.batch_size, paper.train.num_epochs, paper.train.lr) == (
        8,
        5,
        3e-5,
    )
    assert PROFILES["tiny"].text.name_or_path is None


def test_flat_and_dotted_overrides():
    cfg = make_config(
        "tiny",
        alpha=0.2,
        **{"loss.beta": 0.3},
        languages=["zho_Hans", "bod_Tibt"],
        num_epochs=2,
    )
    assert (cfg.loss.alpha, cfg.loss.beta, cfg.train.num_epochs) == (0.2, 0.3, 2)
    assert cfg.data.languages == ("zho_Hans", "bod_Tibt")  # lists become tuples
    # ints are fine where floats are expected
    assert make_config("tiny", tau=1).loss.tau == 1.0


def test_roundtrip_through_dict():
    cfg = make_config("paper", alpha=0.05, seed=7)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0.6, "beta": 0.4}, r"alpha \+ beta must be < 1"),
        ({"alpha": -0.1}, "alpha must be >= 0"),
        ({"beta": -0.1}, "beta must be >= 0"),
        ({"tau": 0.0}, "tau must be > 0"),
        ({"adapter.kind": "lora"}, "unknown adapter kind"),
        ({"kind": "lora"}, "ambiguous"),
        ({"corpus": "wiki"}, "unknown corpus"),
        ({"languages": []}, "at least one language"),
        ({"languages": ["zho_Hans", "zho_Hans"]}, "languages repeat"),
        ({"num_epochs": "3"}, "expects"),
        ({"alpha": "0.1"}, "expects"),
        ({"subset": 2.5}, "expects"),
        ({"hidden_size": 64}, "ambiguous"),
        ({"learning_rate": 1e-3}, "unknown config field"),
        ({"optim.lr": 1e-3}, "unknown config component"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config("tiny", **kwargs)


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        make_config("huge")


def test_check_parameters_names_the_wrong_one():
    ns = {
        "__annotations__": {
            "seeds": list,
            "lr": float,
            "steps": int,
            "name": str,
            "search": bool,
        },
        "seeds": [0, 1],
        "lr": 1,
        "steps": 3,
        "name": "x",
        "search": True,
    }
    check_parameters(ns)  # ints are fine where floats are expected
    with pytest.raises(
        ValueError,
        match=r"parameter seeds='\[0, 1\]' has type str; the chapter expects list",
    ):
        check_parameters({**ns, "seeds": "[0, 1]"})
    with pytest.raises(ValueError, match="parameter steps=2.5"):
        check_parameters({**ns, "steps": 2.5})
    with pytest.raises(ValueError, match="parameter search=1"):
        check_parameters({**ns, "search": 1})
    optional = {"__annotations__": {"subset": "Optional[int]"}, "subset": None}
    check_parameters(optional)
    check_parameters({**optional, "subset": 20})
    with pytest.raises(ValueError, match="parameter subset='20'"):
        check_parameters({**optional, "subset": "20"})


def test_check_parameters_rejects_a_name_the_chapter_does_not_declare():
    ns = {
        "__annotations__": {"corpus": str, "subset": int | None},
        "corpus": "sib200",
        "subset": None,
    }
    # papermill's injected cell, as IPython keeps it in In
    injected = '# Parameters\ncorpus = "mms"\nsubsett = 20\n'
    with pytest.raises(ValueError, match="subsett not declared by this chapter"):
        check_parameters({**ns, "In": ["", "import x", injected], "subsett": 20})
    check_parameters({**ns, "In": ["", '# Parameters\ncorpus = "mms"\n']})
    check_parameters({**ns, "subset": 20})  # outside IPython: nothing was injected


@pytest.mark.parametrize(
    "loss, match",
    [
        (SimpleNamespace(alpha=-0.1, beta=0.1, tau=0.1), "alpha must be >= 0"),
        (SimpleNamespace(alpha=0.6, beta=0.4, tau=0.1), "alpha \\+ beta"),
        (SimpleNamespace(alpha=0.1, beta=0.1, tau=0.0), "tau"),
    ],
)
def test_loss_weights_are_checked_in_one_place(loss, match):
    # Configs built without __post_init__ (e.g. unpickled or hand-made) are caught too:
    # MLCLModel runs the same check on what it is given.
    with pytest.raises(ValueError, match=match):
        check_loss_weights(loss)


def test_ngram_settings_reach_the_stored_config():
    cfg = make_config("tiny", max_features=500, ngram_range=[2, 3])
    assert cfg.ngram == NgramConfig(max_features=500, ngram_range=(2, 3))
    assert cfg.to_dict()["ngram"]["max_features"] == 500
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="ngram_range"):
        make_config("tiny", ngram_range=[3, 2])


def test_text_and_audio_share_one_geometry_base():
    from mlcl_core.config import AudioEncoderConfig, EncoderGeometry, TextEncoderConfig

    assert issubclass(TextEncoderConfig, EncoderGeometry)
    assert issubclass(AudioEncoderConfig, EncoderGeometry)
    for cls in (TextEncoderConfig, AudioEncoderConfig):
        with pytest.raises(ValueError, match="divisible by num_heads"):
            cls(hidden_size=10, num_heads=3)
        with pytest.raises(ValueError, match="needs name_or_path"):
            cls(pretrained=True)


def test_none_means_not_set_and_component_prefixes_name_ambiguous_fields():
    cfg = make_config(
        "paper",
        max_text_len=None,
        text_name_or_path=None,
        subset=None,
        adapter_kind="none",
        text_pooling="mean",
    )
    assert (
        cfg.data.max_text_len == 128
        and cfg.text.name_or_path == PROFILES["paper"].text.name_or_path
    )
    assert (
        cfg.data.subset is None
        and cfg.adapter.kind == "none"
        and cfg.text.pooling == "mean"
    )
    with pytest.raises(ValueError, match="TrainConfig has no field 'examples'"):
        make_config("tiny", train_examples=64)
    with pytest.raises(ValueError, match="has no field 'model'"):
        make_config("tiny", text_model=None)  # not a field, even when not set


def test_mms_defaults_to_simadapter_as_in_the_papers_table_3():
    from mlcl_core.config import make_config

    assert make_config("tiny", corpus="mms").adapter.kind == "simadapter"
    assert make_config("paper", corpus="mms", adapter_kind=None).adapter.kind == (
        "simadapter"
    )
    # an explicit choice wins; other corpora keep the profile's MetaAdapter
    explicit = make_config("paper", corpus="mms", adapter_kind="metaadapter")
    assert explicit.adapter.kind == "metaadapter"
    assert make_config("paper", corpus="sib200").adapter.kind == "metaadapter"


def test_optimizer_is_a_validated_field_adam_for_paper_adamw_for_tiny():
    from mlcl_core.config import TrainConfig

    tiny, paper = make_config("tiny").train, make_config("paper").train
    assert (tiny.optimizer, tiny.weight_decay) == ("adamw", 0.01)  # tiny unchanged
    assert (paper.optimizer, paper.weight_decay) == ("adam", 0.0)  # the paper: Adam
    assert make_config("tiny", optimizer="adam").train.optimizer == "adam"
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_config("tiny", optimizer="sgd")
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-0.1)


def test_paper_preset_gives_both_adapter_kinds_the_same_preparation_budget():
    # batches of speech seen while preparing, for K languages: MetaAdapter one per
    # language per outer step; SimAdapter prepare_steps per language in each of its two
    # stages
    a = make_config("paper").adapter
    for k in (1, 3, 5):
        assert a.meta_steps * k == 2 * a.prepare_steps * k
    tiny = make_config("tiny").adapter
    assert (tiny.meta_steps, tiny.prepare_steps) == (5, 20)  # tiny unchanged
