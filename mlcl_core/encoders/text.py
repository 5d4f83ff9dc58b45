"""The text encoder: a BERT with a WordPiece tokenizer trained on the corpus (``tiny``)
or loaded with ``from_pretrained`` (``paper``), and sentence pooling."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from mlcl_core.config import POOLING_KINDS, TextEncoderConfig, check_choice
from mlcl_core.distributed import from_rank0
from mlcl_core.encoders.dropout import swap_dropout
from mlcl_core.storage import atomic_path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Trained vocabularies, one file per (texts, settings) key, beside the feature cache.
TOKENIZER_CACHE_DIR = "~/.cache/mlcl/tokenizers"
# Part of the cache key: bump when the normaliser or the vocabulary format changes.
_VOCAB_FORMAT = "wordpiece-v1|bert-normaliser"


def pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Sentence vectors (R, D) of token states (R, L, D): ``cls`` or masked ``mean``."""
    check_choice("pooling", pooling, POOLING_KINDS)
    if pooling == "cls":
        return states[:, 0]
    w = mask.unsqueeze(-1).to(states.dtype)  # (R, L, 1)
    return (states * w).sum(1) / w.sum(1).clamp(min=1.0)


def tokenizer_cache_path(
    texts: Sequence[str], vocab_size: int, cache_dir: str | Path, uncased: bool = False
) -> Path:
    """Where the vocabulary trained on ``texts`` is cached: a content-addressed file.

    The key hashes everything the trained vocabulary depends on: the texts in order,
    ``vocab_size``, the special tokens, the normaliser settings and the ``tokenizers``
    version (another version may train differently)."""
    from importlib.metadata import version

    settings = (
        f"{_VOCAB_FORMAT}|uncased={uncased}|{vocab_size}|{SPECIAL_TOKENS}|"
        f"{version('tokenizers')}"
    )
    h = hashlib.sha256(settings.encode())
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")  # keeps ["ab", "c"] and ["a", "bc"] apart
    return Path(cache_dir).expanduser() / f"{h.hexdigest()[:32]}.txt"


def _train_vocab(texts: list[str], vocab_size: int, uncased: bool) -> list[str]:
    """The WordPiece vocabulary trained on ``texts``, in canonical order.

    The trainer's ids change from one process to the next (hash-ordered alphabet), and
    on large corpora so do a few tokens (ties broken in hash order): canonical ids are
    the special tokens first, then the others sorted."""
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    _bert_pipeline(tok, uncased)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return [*SPECIAL_TOKENS, *sorted(set(tok.get_vocab()) - set(SPECIAL_TOKENS))]


def _bert_pipeline(tok: Any, uncased: bool) -> None:
    """BERT's normaliser, pre-tokenizer and decoder; case and accents kept unless
    ``uncased``."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=uncased,
        lowercase=uncased,
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")


def wordpiece_vocab(
    texts: Iterable[str],
    vocab_size: int,
    cache_dir: str | Path | None = TOKENIZER_CACHE_DIR,
    uncased: bool = False,
) -> list[str]:
    """The canonical WordPiece vocabulary of ``texts`` (token i has id i), cached.

    Training is not reproducible across processes (about 50 of 8,000 tokens differ on
    SIB-200, ties broken in hash order), so the vocabulary is kept on disk under a key
    of the texts and settings (:func:`tokenizer_cache_path`): every chapter, seed and
    rerun on a machine then uses one tokenizer. ``cache_dir`` None: no disk cache.
    Under torchrun every process takes rank 0's vocabulary."""
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(
            f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got "
            f"{vocab_size}"
        )
    texts = list(texts)
    if not any(t.strip() for t in texts):
        raise ValueError("cannot train a tokenizer: no non-empty texts given")
    path = (
        None
        if cache_dir is None
        else tokenizer_cache_path(texts, vocab_size, cache_dir, uncased)
    )
    vocab = None
    if path is not None and path.is_file():
        vocab = path.read_text(encoding="utf-8").split("\n")
        if vocab[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            vocab = None  # a truncated or foreign file: retrain and overwrite it
    if vocab is None:
        vocab = _train_vocab(texts, vocab_size, uncased)
        if path is not None:
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join(vocab), encoding="utf-8")
    return from_rank0(vocab)


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    cache_dir: str | Path | None = TOKENIZER_CACHE_DIR,
    uncased: bool = False,
):
    """A BERT-compatible WordPiece tokenizer trained on ``texts``, keeping every vowel
    sign.

    ``uncased=True`` is BERT's uncased normaliser instead (lowercase, strip accents), as
    in ``bert-base-multilingual-uncased``; it deletes Tibetan and Burmese vowel signs.

    BERT's normaliser lowercases and strips accents (NFD, then drops combining marks),
    which deletes Tibetan and Burmese vowel signs; both are off here. transformers 5
    rebuilds the normaliser from ``do_lower_case``/``strip_accents`` when a saved
    tokenizer is reloaded, so they are passed explicitly too. Chinese characters are
    split one per token, as in BERT. The vocabulary comes from :func:`wordpiece_vocab`
    (cached in ``cache_dir``)."""
    # tokenizers and transformers take seconds to import: only when an encoder is built
    from tokenizers import Tokenizer, models, processors
    from transformers import BertTokenizerFast

    vocab = wordpiece_vocab(texts, vocab_size, cache_dir, uncased)
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    _bert_pipeline(tok, uncased)
    cls_id, sep_id = ids["[CLS]"], ids["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        do_lower_case=uncased,
        strip_accents=uncased,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )


def bert_config(cfg: TextEncoderConfig, vocab_size: int, pad_token_id: int = 0):
    """The ``BertConfig`` of ``cfg``'s geometry (used when no checkpoint is named)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=512,
        pad_token_id=pad_token_id,
    )


def build_text_encoder(
    cfg: TextEncoderConfig,
    texts: Sequence[str] | None = None,
    attn_implementation: str = "sdpa",
):
    """The (tokenizer, ``BertModel``) pair that ``cfg`` describes.

    ``cfg.name_or_path`` None: a WordPiece tokenizer trained on ``texts`` and a
    random-init BERT of ``cfg``'s geometry. Otherwise the tokenizer and weights of that
    hub id or local directory (``pretrained``), or its geometry at random init
    (``pretrained=False``). ``attn_implementation``: ``sdpa`` (default; PyTorch's fused
    attention kernels, flash and memory-efficient ones on a GPU; on the tiny CPU profile
    it measured as fast as ``eager``, issue 8) or ``eager`` (needed to ask for attention
    weights). Its dropout modules are :class:`~mlcl_core.encoders.dropout.Dropout`
    (a cheaper random mask on the CPU)."""
    from transformers import AutoConfig, AutoTokenizer, BertModel

    from mlcl_core.display import quiet_transformers

    if cfg.name_or_path is None:
        if texts is None:
            raise ValueError(
                "build_text_encoder: name_or_path is None, so texts are needed to "
                "train a tokenizer"
            )
        tokenizer = train_wordpiece_tokenizer(texts, cfg.vocab_size)
        conf = bert_config(cfg, len(tokenizer), tokenizer.pad_token_id)
        conf._attn_implementation = attn_implementation
        return tokenizer, swap_dropout(BertModel(conf, add_pooling_layer=False))
    tokenizer = AutoTokenizer.from_pretrained(cfg.name_or_path)
    if cfg.pretrained:
        with quiet_transformers():
            model = BertModel.from_pretrained(
                cfg.name_or_path,
                add_pooling_layer=False,
                attn_implementation=attn_implementation,
            )
    else:
        conf = AutoConfig.from_pretrained(
            cfg.name_or_path, attn_implementation=attn_implementation
        )
        model = BertModel(conf, add_pooling_layer=False)
    return tokenizer, swap_dropout(model)
