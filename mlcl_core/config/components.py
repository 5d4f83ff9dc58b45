"""The data, speech, encoder, adapter, fusion and loss components of a config."""

from __future__ import annotations

from dataclasses import dataclass

from mlcl_core.config.checks import (
    ACTIVATIONS,
    ADAPTER_KINDS,
    ALIGN_KINDS,
    CORPORA,
    FUSION_KINDS,
    PAPER_LANGUAGES,
    POOLING_KINDS,
    SPEECH_NORMS,
    _check,
    check_choice,
    check_loss_weights,
)


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, which languages and how much of it.

    Args:
        corpus: ``sib200`` (embedded default), ``flores200`` or ``mms``.
        data_path: directory or file of the corpus; ``None`` means the embedded SIB-200
        copy.
        languages: language codes as the corpus names them (e.g. ``zho_Hans``).
        subset: keep at most this many sentences per split (``None``: all), for quick
        runs.
        max_text_len: maximum number of text tokens fed to the text encoder.
        train_sentences: keep only this many training sentences (``None``: all), spread
        over the labels and nested (``Corpus.with_train_sentences``, applied after
        ``subset``); dev and test are untouched, so data-length runs are scored on the
        same sentences.
    """

    corpus: str = "sib200"
    data_path: str | None = None
    languages: tuple[str, ...] = PAPER_LANGUAGES
    subset: int | None = None
    max_text_len: int = 64
    train_sentences: int | None = None

    def __post_init__(self) -> None:
        check_choice("corpus", self.corpus, CORPORA)
        _check(len(self.languages) >= 1, "languages must name at least one language")
        _check(
            len(set(self.languages)) == len(self.languages),
            f"languages repeat: {self.languages}",
        )
        _check(
            self.subset is None or self.subset > 0,
            f"subset must be positive, got {self.subset}",
        )
        _check(
            self.train_sentences is None or self.train_sentences > 0,
            f"train_sentences must be positive, got {self.train_sentences}",
        )
        _check(
            self.max_text_len > 0,
            f"max_text_len must be positive, got {self.max_text_len}",
        )


@dataclass(frozen=True)
class SpeechConfig:
    """How speech is synthesised from the text and fed to the audio encoder.

    Args:
        backend: ``espeak`` (offline default), ``gtts``, ``marytts`` or ``mms``.
        cache_dir: where synthesised audio is cached (content-addressed).
        workers: parallel synthesis processes.
        max_seconds: audio longer than this is cropped before the audio encoder.
        marytts_url: base URL of a MaryTTS server (``marytts`` backend only).
        feature_cache_dir: where the frozen feature extractor's output for a whole
            corpus is cached (keyed by the extractor's weights, ``max_seconds`` and the
            clips), and ``build_mlcl``'s frozen audio prefix states with it
            (``prefix-<key>/``, see ``mlcl_core.encoders.frozen``); ``None`` turns both
            caches off.
        fallback_voices: read a language the backend has no voice for with the voice
            of its script (``speech.fallback.SCRIPT_STAND_INS``: Tibetan script through
            the Tibetan pipeline, Bengali through ``bn``, Latin through Indonesian);
            off, such a language stops with ``NoVoiceError``.
        stand_ins: ``"language=stand-in"`` pairs (``"kac_Latn=eng_Latn"``): that
            language is read by the stand-in's voice, with or without
            ``fallback_voices``.
    """

    backend: str = "espeak"
    cache_dir: str = "~/.cache/mlcl/speech"
    workers: int = 2
    max_seconds: float = 4.0
    marytts_url: str = "http://localhost:59125"
    feature_cache_dir: str | None = "~/.cache/mlcl/features"
    fallback_voices: bool = False
    stand_ins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        _check(
            self.max_seconds > 0,
            f"max_seconds must be positive, got {self.max_seconds}",
        )
        _check(
            all(isinstance(s, str) and s.count("=") == 1 for s in self.stand_ins),
            f"stand_ins must be 'language=stand-in' texts, got {self.stand_ins}",
        )


@dataclass(frozen=True)
class EncoderGeometry:
    """What the text and the audio encoder share: a checkpoint or a transformer
    geometry.

    Args:
        name_or_path: hub id or local directory for ``from_pretrained``; ``None`` builds
            the encoder from the geometry below.
        pretrained: load weights (``True``) or build the same geometry at random init.
        hidden_size, num_layers, num_heads, intermediate_size: the transformer geometry.
    """

    name_or_path: str | None = None
    pretrained: bool = False
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256

    def __post_init__(self) -> None:
        _check(
            self.hidden_size % self.num_heads == 0,
            "hidden_size must be divisible by num_heads",
        )
        _check(
            not (self.pretrained and self.name_or_path is None),
            "pretrained=True needs name_or_path (a hub id or a local checkpoint "
            "directory)",
        )


@dataclass(frozen=True)
class TextEncoderConfig(EncoderGeometry):
    """The text encoder (BERT family); geometry fields from :class:`EncoderGeometry`.

    ``name_or_path=None`` builds a BERT of the geometry with a WordPiece tokenizer
    trained on the corpus.

    Args:
        vocab_size: size of the WordPiece vocabulary trained on the corpus.
        pooling: sentence embedding from ``cls`` or ``mean`` of the token states.
        dropout: hidden and attention dropout.
    """

    vocab_size: int = 8000
    pooling: str = "cls"
    dropout: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pooling", self.pooling, POOLING_KINDS)


@dataclass(frozen=True)
class AudioEncoderConfig(EncoderGeometry):
    """The audio encoder (wav2vec2), its convolutional feature extractor always frozen.

    Geometry fields (checkpoint, transformer size) from :class:`EncoderGeometry`.

    Args:
        conv_dim, conv_kernel, conv_stride: the convolutional feature extractor. The
            tiny preset strides 1280 samples per frame (12.5 frames/s) instead of
            wav2vec2's
            320: four times fewer frames to attend over, which is what keeps the book
            fast on a CPU.
        feat_extract_norm: ``layer`` (normalise every conv layer per frame; a batch of
            padded waves gives the same features as one at a time) or ``group``
            (wav2vec2-base's group norm over time on the first layer, which forces one
            wave at a time).
        freeze_backbone: freeze the transformer (only adapters train), as in the paper.
        init_seed: seed of the random-init backbone (tiny profile and
            ``pretrained=False``), independent of the run's seed: the frozen random
            backbone plays the part of a fixed checkpoint, so every run and seed sees
            the same features and they are cached once.
    """

    conv_dim: tuple[int, ...] = (32, 32, 64, 64, 64)
    conv_kernel: tuple[int, ...] = (10, 4, 4, 4, 4)
    conv_stride: tuple[int, ...] = (5, 4, 4, 4, 4)
    feat_extract_norm: str = "layer"
    init_seed: int = 0
    freeze_backbone: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(
            len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride),
            "conv_dim, conv_kernel and conv_stride must have the same length",
        )
        check_choice("feat_extract_norm", self.feat_extract_norm, ("layer", "group"))


@dataclass(frozen=True)
class AdapterConfig:
    """Bottleneck adapters in the audio encoder and how they are combined across
    languages.

    Args:
        kind: ``simadapter``, ``metaadapter`` or ``none``.
        bottleneck: adapter width r (64 for low-resource languages in Hou et al.).
        activation: ``relu`` or ``gelu``.
        sim_temperature: SimAdapter attention temperature (scores divided by
        sqrt(temp)).
        sim_value_reg: weight of ``sum_layers ||I - W_V||_F^2``.
        sim_guide_weight: weight of the guide loss (mean attention towards the own
        language).
        meta_steps: outer steps of first-order meta-learning (MetaAdapter).
        meta_lr: outer step size at t = 0 (decays linearly to 0).
        inner_lr: inner Adam learning rate of meta-learning.
        prepare_steps: SimAdapter preparation steps, per language adapter (stage 1) and
            for the fusion (stage 2).
        prepare_lr: Adam learning rate of the SimAdapter preparation stages (1e-3 in Hou
        et al.).
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
        check_choice("adapter kind", self.kind, ADAPTER_KINDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        _check(
            self.bottleneck > 0, f"bottleneck must be positive, got {self.bottleneck}"
        )
        _check(
            self.sim_temperature > 0,
            f"sim_temperature must be positive, got {self.sim_temperature}",
        )
        _check(self.meta_steps >= 0, f"meta_steps must be >= 0, got {self.meta_steps}")
        _check(
            self.prepare_steps >= 0,
            f"prepare_steps must be >= 0, got {self.prepare_steps}",
        )
        _check(
            self.prepare_lr > 0 and self.inner_lr > 0 and self.meta_lr > 0,
            "adapter learning rates (prepare_lr, inner_lr, meta_lr) must be positive",
        )


@dataclass(frozen=True)
class FusionConfig:
    """CM-BERT masked multimodal attention and how audio frames are aligned to text
    tokens.

    Args:
        kind: ``cmbert``.
        width: width of the bias-free 1x1 projections (30 in CM-BERT).
        dropout: dropout on the attention matrix and the output (0.3 in CM-BERT).
        align: ``cross_attention`` (tokens attend to frames) or ``segments``
        (parameter-free).
        align_heads: heads of the alignment cross-attention.
        cls_audio: give [CLS] the whole clip's audio (True), so that audio reaches the
            [CLS] row that is classified; ``False`` is CM-BERT's literal zero audio at
            [CLS], with which the [CLS] output of a single fusion layer depends on the
            text alone.
    """

    kind: str = "cmbert"
    width: int = 30
    dropout: float = 0.3
    align: str = "cross_attention"
    align_heads: int = 2
    cls_audio: bool = True

    def __post_init__(self) -> None:
        check_choice("fusion", self.kind, FUSION_KINDS)
        check_choice("align", self.align, ALIGN_KINDS)
        _check(
            0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"
        )


@dataclass(frozen=True)
class LossConfig:
    """The total loss (1 - alpha - beta) CE + alpha MCL + beta LCL (paper eq. 13).

    Args:
        alpha: weight of the modality contrastive loss MCL.
        beta: weight of the language contrastive loss LCL.
        tau: NT-Xent temperature.
        proj_dim: width of the projection heads the contrastive losses see.
        speech_norm: what the speech head reads: the pooled audio vector as it is
            (``none``) or standardised per dimension within each language
            (``language``: a BatchNorm without affine weights per language, running
            statistics in evaluation). A pre-trained audio encoder's pooled vectors
            share a large common component (60-90 % of their energy with the tiny
            checkpoint), which ``language`` removes before the projection.
    """

    alpha: float = 0.1
    beta: float = 0.1
    tau: float = 0.07
    proj_dim: int = 128
    speech_norm: str = "none"

    def __post_init__(self) -> None:
        check_loss_weights(self)
        check_choice("speech_norm", self.speech_norm, SPEECH_NORMS)
        _check(self.proj_dim > 0, f"proj_dim must be positive, got {self.proj_dim}")
