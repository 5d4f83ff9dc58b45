"""Configuration: one frozen dataclass per component, combined into an experiment config.

A *profile* is a named preset of these dataclasses (``tiny`` for CPU, tests and the book;
``paper`` for the paper's encoders on a GPU). Every field can be overridden, e.g. from a
chapter's papermill parameters, with :func:`make_config`::

    cfg = make_config("tiny", languages=("zho_Hans", "bod_Tibt"), alpha=0.2, num_epochs=3)

Flat names (``alpha``) are looked up in every component; dotted names (``loss.alpha``)
address one component. Unknown names and values of the wrong type raise ``ValueError``
before any long work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

#: The languages of the paper, as SIB-200 / Flores-200 codes.
PAPER_LANGUAGES: tuple[str, ...] = ("zho_Hans", "bod_Tibt", "mya_Mymr")
CORPORA = ("sib200", "flores200", "mms")
ADAPTER_KINDS = ("simadapter", "metaadapter", "none")
FUSION_KINDS = ("cmbert",)
ALIGN_KINDS = ("cross_attention", "segments")
POOLING_KINDS = ("cls", "mean")
OPTIMIZERS = ("adamw", "adam")
#: The paper's tau grid (section 4.3), also the search space of hyperopt.
TAU_GRID: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.3, 0.5)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, which languages and how much of it.

    Args:
        corpus: ``sib200`` (embedded default), ``flores200`` or ``mms``.
        data_path: directory or file of the corpus; ``None`` means the embedded SIB-200 copy.
        languages: language codes as the corpus names them (e.g. ``zho_Hans``).
        subset: keep at most this many sentences per split (``None``: all), for quick runs.
        max_text_len: maximum number of text tokens fed to the text encoder.
    """

    corpus: str = "sib200"
    data_path: str | None = None
    languages: tuple[str, ...] = PAPER_LANGUAGES
    subset: int | None = None
    max_text_len: int = 64

    def __post_init__(self) -> None:
        _check(self.corpus in CORPORA, f"unknown corpus {self.corpus!r}; known: {', '.join(CORPORA)}")
        _check(len(self.languages) >= 1, "languages must name at least one language")
        _check(len(set(self.languages)) == len(self.languages), f"languages repeat: {self.languages}")
        _check(self.subset is None or self.subset > 0, f"subset must be positive, got {self.subset}")
        _check(self.max_text_len > 0, f"max_text_len must be positive, got {self.max_text_len}")


@dataclass(frozen=True)
class SpeechConfig:
    """How speech is synthesised from the text and fed to the audio encoder.

    Args:
        backend: ``espeak`` (offline default), ``gtts``, ``marytts`` or ``mms``.
        cache_dir: where synthesised audio is cached (content-addressed).
        workers: parallel synthesis processes.
        max_seconds: audio longer than this is cropped before the audio encoder.
        marytts_url: base URL of a MaryTTS server (``marytts`` backend only).
        feature_cache_dir: where the frozen feature extractor's output for a whole corpus is
            cached (keyed by the extractor's weights, ``max_seconds`` and the clips); ``None``
            turns the cache off.
    """

    backend: str = "espeak"
    cache_dir: str = "~/.cache/mlcl/speech"
    workers: int = 2
    max_seconds: float = 4.0
    marytts_url: str = "http://localhost:59125"
    feature_cache_dir: str | None = "~/.cache/mlcl/features"

    def __post_init__(self) -> None:
        _check(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        _check(self.max_seconds > 0, f"max_seconds must be positive, got {self.max_seconds}")


@dataclass(frozen=True)
class TextEncoderConfig:
    """The text encoder (BERT family).

    Args:
        name_or_path: hub id or local directory for ``from_pretrained``; ``None`` builds a
            BERT from the geometry below with a WordPiece tokenizer trained on the corpus.
        pretrained: load weights (``True``) or build the same geometry at random init.
        hidden_size, num_layers, num_heads, intermediate_size: geometry when built from config.
        vocab_size: size of the WordPiece vocabulary trained on the corpus.
        pooling: sentence embedding from ``cls`` or ``mean`` of the token states.
        dropout: hidden and attention dropout.
    """

    name_or_path: str | None = None
    pretrained: bool = False
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    vocab_size: int = 8000
    pooling: str = "cls"
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _check(self.pooling in POOLING_KINDS, f"unknown pooling {self.pooling!r}; known: {POOLING_KINDS}")
        _check(self.hidden_size % self.num_heads == 0, "hidden_size must be divisible by num_heads")
        _check(not (self.pretrained and self.name_or_path is None),
               "pretrained=True needs name_or_path (a hub id or a local checkpoint directory)")


@dataclass(frozen=True)
class AudioEncoderConfig:
    """The audio encoder (wav2vec2), its convolutional feature extractor always frozen.

    Args:
        name_or_path: hub id or local directory; ``None`` builds from the geometry below.
        pretrained: load weights or build the same geometry at random init.
        hidden_size, num_layers, num_heads, intermediate_size: transformer geometry.
        conv_dim, conv_kernel, conv_stride: the convolutional feature extractor. The tiny
            preset strides 1280 samples per frame (12.5 frames/s) instead of wav2vec2's 320:
            four times fewer frames to attend over, which is what keeps the book fast on a CPU.
        feat_extract_norm: ``layer`` (normalise every conv layer per frame; a batch of padded
            waves gives the same features as one at a time) or ``group`` (wav2vec2-base's
            group norm over time on the first layer, which forces one wave at a time).
        freeze_backbone: freeze the transformer (only adapters train), as in the paper.
        init_seed: seed of the random-init backbone (tiny profile and ``pretrained=False``),
            independent of the run's seed: the frozen random backbone plays the part of a fixed
            checkpoint, so every run and seed sees the same features and they are cached once.
    """

    name_or_path: str | None = None
    pretrained: bool = False
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    conv_dim: tuple[int, ...] = (32, 32, 64, 64, 64)
    conv_kernel: tuple[int, ...] = (10, 4, 4, 4, 4)
    conv_stride: tuple[int, ...] = (5, 4, 4, 4, 4)
    feat_extract_norm: str = "layer"
    init_seed: int = 0
    freeze_backbone: bool = True

    def __post_init__(self) -> None:
        _check(len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride),
               "conv_dim, conv_kernel and conv_stride must have the same length")
        _check(self.feat_extract_norm in ("layer", "group"),
               f"unknown feat_extract_norm {self.feat_extract_norm!r}; use layer or group")
        _check(self.hidden_size % self.num_heads == 0, "hidden_size must be divisible by num_heads")
        _check(not (self.pretrained and self.name_or_path is None),
               "pretrained=True needs name_or_path (a hub id or a local checkpoint directory)")


@dataclass(frozen=True)
class AdapterConfig:
    """Bottleneck adapters in the audio encoder and how they are combined across languages.

    Args:
        kind: ``simadapter``, ``metaadapter`` or ``none``.
        bottleneck: adapter width r (64 for low-resource languages in Hou et al.).
        activation: ``relu`` or ``gelu``.
        sim_temperature: SimAdapter attention temperature (scores divided by sqrt(temp)).
        sim_value_reg: weight of ``sum_layers ||I - W_V||_F^2``.
        sim_guide_weight: weight of the guide loss (mean attention towards the own language).
        meta_steps: outer steps of first-order meta-learning (MetaAdapter).
        meta_lr: outer step size at t = 0 (decays linearly to 0).
        inner_lr: inner Adam learning rate of meta-learning.
        prepare_steps: SimAdapter preparation steps, per language adapter (stage 1) and for the fusion
            (stage 2).
        prepare_lr: Adam learning rate of the SimAdapter preparation stages (1e-3 in Hou et al.).
    """

    kind: str = "metaadapter"
    bottleneck: int = 32
    activation: str = "relu"
    sim_temperature: float = 1.0
    sim_value_reg: float = 0.01
    sim_guide_weight: float = 0.1
    meta_steps: int = 5
    meta_lr: float = 1.0
    inner_lr: float = 1e-3
    prepare_steps: int = 20
    prepare_lr: float = 1e-3

    def __post_init__(self) -> None:
        _check(self.kind in ADAPTER_KINDS,
               f"unknown adapter kind {self.kind!r}; known: {', '.join(ADAPTER_KINDS)}")
        _check(self.activation in ("relu", "gelu"), f"unknown activation {self.activation!r}")
        _check(self.bottleneck > 0, f"bottleneck must be positive, got {self.bottleneck}")
        _check(self.sim_temperature > 0, f"sim_temperature must be positive, got {self.sim_temperature}")
        _check(self.meta_steps >= 0, f"meta_steps must be >= 0, got {self.meta_steps}")
        _check(self.prepare_steps >= 0, f"prepare_steps must be >= 0, got {self.prepare_steps}")
        _check(self.prepare_lr > 0 and self.inner_lr > 0 and self.meta_lr > 0,
               "adapter learning rates (prepare_lr, inner_lr, meta_lr) must be positive")


@dataclass(frozen=True)
class FusionConfig:
    """CM-BERT masked multimodal attention and how audio frames are aligned to text tokens.

    Args:
        kind: ``cmbert``.
        width: width of the bias-free 1x1 projections (30 in CM-BERT).
        dropout: dropout on the attention matrix and the output (0.3 in CM-BERT).
        align: ``cross_attention`` (tokens attend to frames) or ``segments`` (parameter-free).
        align_heads: heads of the alignment cross-attention.
        cls_audio: give [CLS] the whole clip's audio (True), so that audio reaches the [CLS]
            row that is classified; ``False`` is CM-BERT's literal zero audio at [CLS], with
            which the [CLS] output of a single fusion layer depends on the text alone.
    """

    kind: str = "cmbert"
    width: int = 30
    dropout: float = 0.3
    align: str = "cross_attention"
    align_heads: int = 2
    cls_audio: bool = True

    def __post_init__(self) -> None:
        _check(self.kind in FUSION_KINDS, f"unknown fusion {self.kind!r}; known: {FUSION_KINDS}")
        _check(self.align in ALIGN_KINDS, f"unknown align {self.align!r}; known: {ALIGN_KINDS}")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class LossConfig:
    """The total loss (1 - alpha - beta) CE + alpha MCL + beta LCL (paper eq. 13).

    Args:
        alpha: weight of the modality contrastive loss MCL.
        beta: weight of the language contrastive loss LCL.
        tau: NT-Xent temperature.
        proj_dim: width of the projection heads the contrastive losses see.
    """

    alpha: float = 0.1
    beta: float = 0.1
    tau: float = 0.07
    proj_dim: int = 128

    def __post_init__(self) -> None:
        _check(self.alpha >= 0, f"alpha must be >= 0, got {self.alpha}")
        _check(self.beta >= 0, f"beta must be >= 0, got {self.beta}")
        _check(self.alpha + self.beta < 1,
               f"alpha + beta must be < 1 (the CE weight is 1 - alpha - beta), got {self.alpha} + {self.beta}")
        _check(self.tau > 0, f"tau must be > 0, got {self.tau}")
        _check(self.proj_dim > 0, f"proj_dim must be positive, got {self.proj_dim}")


@dataclass(frozen=True)
class TrainConfig:
    """The trainer: optimisation, early stopping, device, seeds.

    Args:
        num_epochs: maximum epochs.
        batch_size: parallel samples per batch (each carries every language).
        lr: learning rate of the text encoder and heads.
        adapter_lr: learning rate of adapters and fusion.
        optimizer: ``adamw`` (decoupled weight decay; the tiny profile) or ``adam``
            (what the paper names; its ``weight_decay`` would be an L2 term in the
            gradient, so the paper profile sets it to 0).
        weight_decay: weight decay of the matrices (never of biases and LayerNorm
            weights).
        grad_clip: max gradient norm.
        schedule: ``constant`` learning rates, or ``linear``: a linear warm-up over the first
            ``warmup`` share of all steps, then a linear decay to 0 at the last step (the usual
            schedule for transformers trained from scratch, where a constant 1e-3 from step 0
            is unstable early and noisy late).
        warmup: share of the total steps (``num_epochs`` x batches per epoch) spent warming up
            (``linear`` schedule only).
        patience: early stopping after this many epochs without a better dev score.
        seed: random seed.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.
        bf16: bf16 autocast on CUDA (ignored on CPU).
    """

    num_epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    adapter_lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    schedule: str = "constant"
    warmup: float = 0.1
    patience: int = 3
    seed: int = 42
    device: str = "auto"
    bf16: bool = True

    def __post_init__(self) -> None:
        _check(self.num_epochs >= 1, f"num_epochs must be >= 1, got {self.num_epochs}")
        _check(self.batch_size >= 2, f"batch_size must be >= 2 (contrastive negatives), got {self.batch_size}")
        _check(self.lr > 0 and self.adapter_lr > 0, "learning rates must be positive")
        _check(self.optimizer in OPTIMIZERS,
               f"unknown optimizer {self.optimizer!r}; use {' or '.join(OPTIMIZERS)}")
        _check(self.weight_decay >= 0,
               f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
               f"unknown device {self.device!r}; use auto, cpu or cuda[:N]")
        _check(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _check(self.schedule in ("constant", "linear"), f"unknown schedule {self.schedule!r}; use constant or linear")
        _check(0.0 <= self.warmup < 1.0, f"warmup must be in [0, 1), got {self.warmup}")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one run needs; written beside its results."""

    profile: str = "tiny"
    data: DataConfig = field(default_factory=DataConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    audio: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExperimentConfig":
        kw: dict[str, Any] = {"profile": d.get("profile", "tiny")}
        for f in fields(cls):
            if f.name == "profile" or f.name not in d:
                continue
            sub_cls = _COMPONENTS[f.name]
            kw[f.name] = sub_cls(**{k: _coerce(sub_cls, k, v) for k, v in d[f.name].items()})
        return cls(**kw)


_COMPONENTS: dict[str, type] = {
    "data": DataConfig, "speech": SpeechConfig, "text": TextEncoderConfig,
    "audio": AudioEncoderConfig, "adapter": AdapterConfig, "fusion": FusionConfig,
    "loss": LossConfig, "train": TrainConfig,
}

PROFILES: dict[str, ExperimentConfig] = {
    # CPU, tests and the book: small encoders from scratch, the embedded corpus. Sized so the
    # whole book runs on 2 CPU cores in minutes: texts cut at 64 tokens (Tibetan's median
    # sentence is 74, so some lose their tail), speech cropped to its first 4 s (clips average
    # about 10 s), 5 meta-learning steps.
    # Linear warm-up and decay of lr 1e-3 (randomly initialised encoders). On SIB-200's dev
    # split (full data, seed 0) BERT-Combined reached dev M 0.694 in 5 epochs with it and
    # 0.684 in 6 with a constant rate, and peaks earlier (epoch 3 vs 5).
    "tiny": ExperimentConfig(profile="tiny", train=TrainConfig(schedule="linear")),
    # The paper's setting (section 4.3): mBERT + wav2vec2-base-960h, batch 8, 5 epochs,
    # max length 128, Adam lr 3e-5 (plain Adam, no weight decay), bf16 on a GPU.
    # Adapter preparation gets one budget for both kinds: MetaAdapter's 200 outer
    # steps take one batch per language each (two Adam steps on its halves), 200 K
    # batches for K languages; SimAdapter's two stages take prepare_steps batches per
    # language each, 2 x 100 K.
    "paper": ExperimentConfig(
        profile="paper",
        text=TextEncoderConfig(name_or_path="bert-base-multilingual-uncased", pretrained=True,
                               hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                               vocab_size=105879),
        audio=AudioEncoderConfig(name_or_path="facebook/wav2vec2-base-960h", pretrained=True,
                                 hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                                 conv_dim=(512,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                                 conv_stride=(5, 2, 2, 2, 2, 2, 2), feat_extract_norm="group"),
        data=DataConfig(max_text_len=128),
        speech=SpeechConfig(max_seconds=8.0),
        adapter=AdapterConfig(bottleneck=64, meta_steps=200, prepare_steps=100),
        fusion=FusionConfig(align_heads=8),
        loss=LossConfig(proj_dim=256),
        train=TrainConfig(num_epochs=5, batch_size=8, lr=3e-5, adapter_lr=1e-3,
                          optimizer="adam", weight_decay=0.0, schedule="constant",
                          device="auto"),
    ),
}


def _type_ok(tp: Any, value: Any) -> bool:
    """Whether ``value`` fits the annotation ``tp`` (the small subset used in these configs)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(a, value) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(tp)
        return isinstance(value, tuple) and all(_type_ok(args[0], v) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Check ``value`` against field ``name`` of ``cls``; lists become tuples, ints floats."""
    hints = typing.get_type_hints(cls)
    if name not in hints:
        raise ValueError(f"{cls.__name__} has no field {name!r}; fields: {', '.join(hints)}")
    tp = hints[name]
    if isinstance(value, list):
        value = tuple(value)
    if not _type_ok(tp, value):
        raise ValueError(f"{name}={value!r} has type {type(value).__name__}; "
                         f"{cls.__name__}.{name} expects {tp}")
    if tp is float and isinstance(value, int):
        value = float(value)
    return value


def _owners(name: str) -> list[str]:
    return [comp for comp, cls in _COMPONENTS.items() if name in typing.get_type_hints(cls)]


def make_config(profile: str = "tiny", **overrides: Any) -> ExperimentConfig:
    """The preset ``profile`` with ``overrides`` applied (flat or dotted field names).

    A flat name must belong to exactly one component (``alpha``, ``num_epochs``, ...);
    ambiguous names (``hidden_size``, ``name_or_path``, ...) need a prefix: ``text.hidden_size``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    base = PROFILES[profile]
    per_comp: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if "." in key:
            comp, name = key.split(".", 1)
            if comp not in _COMPONENTS:
                raise ValueError(f"unknown config component {comp!r} in {key!r}; known: {', '.join(_COMPONENTS)}")
        else:
            owners = _owners(key)
            if not owners:
                raise ValueError(f"unknown config field {key!r}")
            if len(owners) > 1:
                raise ValueError(f"{key!r} is ambiguous; write one of: " + ", ".join(f"{o}.{key}" for o in owners))
            comp, name = owners[0], key
        per_comp.setdefault(comp, {})[name] = _coerce(_COMPONENTS[comp], name, value)
    kw = {comp: replace(getattr(base, comp), **vals) for comp, vals in per_comp.items()}
    return replace(base, **kw)


def check_parameters(namespace: Mapping[str, Any]) -> None:
    """Check a chapter's papermill parameters against the annotations of its ``parameters`` cell.

    Call as ``check_parameters(globals())`` right after the parameters: papermill injects new
    values as plain assignments, so a list passed with ``-p`` (which arrives as a string) or a
    number given as text fails here, naming the parameter, instead of deep inside a run.
    """
    annotations = namespace.get("__annotations__", {})
    for name, tp in annotations.items():
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(tp, str):  # annotations written as strings, e.g. "Optional[int]"
            simple = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
            inner = tp[len("Optional["):-1] if tp.startswith("Optional[") and tp.endswith("]") else None
            tp = (simple[inner] | None) if inner in simple else simple.get(tp, Any)
        if not _type_ok(tp, value):
            hint = " (papermill's -p passes text: give lists as YAML, -y 'name: [...]')" if tp is list else ""
            raise ValueError(f"parameter {name}={value!r} has type {type(value).__name__}; "
                             f"the chapter expects {getattr(tp, '__name__', tp)}{hint}")
