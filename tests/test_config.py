"""Experiment configs: presets, overrides and the errors they raise."""

from __future__ import annotations

import pytest

from mlcl_core.config import PROFILES, ExperimentConfig, make_config


def test_presets_differ_where_the_paper_says():
    paper = PROFILES["paper"]
    assert paper.text.name_or_path == "bert-base-multilingual-uncased"
    assert paper.audio.name_or_path == "facebook/wav2vec2-base-960h"
    assert (paper.train.batch_size, paper.train.num_epochs, paper.train.lr) == (8, 5, 3e-5)
    assert PROFILES["tiny"].text.name_or_path is None


def test_flat_and_dotted_overrides():
    cfg = make_config("tiny", alpha=0.2, **{"loss.beta": 0.3}, languages=["zho_Hans", "bod_Tibt"], num_epochs=2)
    assert (cfg.loss.alpha, cfg.loss.beta, cfg.train.num_epochs) == (0.2, 0.3, 2)
    assert cfg.data.languages == ("zho_Hans", "bod_Tibt")  # lists become tuples
    assert make_config("tiny", tau=1).loss.tau == 1.0  # ints are fine where floats are expected


def test_roundtrip_through_dict():
    cfg = make_config("paper", alpha=0.05, seed=7)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs, message", [
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
])
def test_bad_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config("tiny", **kwargs)


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        make_config("huge")


def test_check_parameters_names_the_wrong_one():
    from mlcl_core.config import check_parameters

    ns = {"__annotations__": {"seeds": list, "lr": float, "steps": int, "name": str, "search": bool},
          "seeds": [0, 1], "lr": 1, "steps": 3, "name": "x", "search": True}
    check_parameters(ns)  # ints are fine where floats are expected
    with pytest.raises(ValueError, match=r"parameter seeds='\[0, 1\]' has type str; the chapter expects list"):
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
    # batches of speech seen while preparing, for K languages: MetaAdapter one per language
    # per outer step; SimAdapter prepare_steps per language in each of its two stages
    a = make_config("paper").adapter
    for k in (1, 3, 5):
        assert a.meta_steps * k == 2 * a.prepare_steps * k
    tiny = make_config("tiny").adapter
    assert (tiny.meta_steps, tiny.prepare_steps) == (5, 20)  # tiny unchanged
