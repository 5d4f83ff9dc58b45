"""Configuration: one frozen dataclass per component, combined into an experiment
config.

A *profile* is a named preset of these dataclasses (``tiny`` for CPU, tests and the
book; ``paper`` for the paper's encoders on a GPU). Every field can be overridden, e.g.
from a chapter's papermill parameters, with :func:`make_config`::

    cfg = make_config("tiny", languages=("zho_Hans", "bod_Tibt"), alpha=0.2,
                      num_epochs=3)

Flat names (``alpha``) are looked up in every component; dotted names (``loss.alpha``)
address one component. Unknown names and values of the wrong type raise ``ValueError``
before any long work starts.
"""

from mlcl_core.config.checks import (
    ACTIVATIONS,
    ADAPTER_KINDS,
    ALIGN_KINDS,
    CORPORA,
    FUSION_KINDS,
    NGRAM_CLASSIFIERS,
    OPTIMIZERS,
    PAPER_LANGUAGES,
    POOLING_KINDS,
    SPEECH_NORMS,
    TAU_GRID,
    check_choice,
    check_loss_weights,
)
from mlcl_core.config.components import (
    AdapterConfig,
    AudioEncoderConfig,
    DataConfig,
    EncoderGeometry,
    FusionConfig,
    LossConfig,
    SpeechConfig,
    TextEncoderConfig,
)
from mlcl_core.config.experiment import (
    PROFILES,
    ExperimentConfig,
    NgramConfig,
    TrainConfig,
)
from mlcl_core.config.overrides import (
    check_parameters,
    injected_parameters,
    make_config,
)

__all__ = [
    "ACTIVATIONS",
    "ADAPTER_KINDS",
    "ALIGN_KINDS",
    "CORPORA",
    "FUSION_KINDS",
    "NGRAM_CLASSIFIERS",
    "OPTIMIZERS",
    "PAPER_LANGUAGES",
    "POOLING_KINDS",
    "SPEECH_NORMS",
    "TAU_GRID",
    "PROFILES",
    "check_choice",
    "check_loss_weights",
    "AdapterConfig",
    "AudioEncoderConfig",
    "DataConfig",
    "EncoderGeometry",
    "FusionConfig",
    "LossConfig",
    "SpeechConfig",
    "TextEncoderConfig",
    "ExperimentConfig",
    "NgramConfig",
    "TrainConfig",
    "check_parameters",
    "injected_parameters",
    "make_config",
]
