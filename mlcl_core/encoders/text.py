"""The text encoder: a BERT with a WordPiece tokenizer trained on the corpus (``tiny``)
or loaded with ``from_pretrained`` (``paper``), and sentence pooling."""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

from mlcl_core.config import POOLING_KINDS, TextEncoderConfig, check_choice

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Sentence vectors (R, D) of token states (R, L, D): ``cls`` or masked ``mean``."""
    check_choice("pooling", pooling, POOLING_KINDS)
    if pooling == "cls":
        return states[:, 0]
    w = mask.unsqueeze(-1).to(states.dtype)  # (R, L, 1)
    return (states * w).sum(1) / w.sum(1).clamp(min=1.0)


def train_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int):
    """A BERT-compatible WordPiece tokenizer trained on ``texts``, keeping every vowel
    sign.

    BERT's normaliser lowercases and strips accents (NFD, then drops combining marks),
    which deletes Tibetan and Burmese vowel signs; both are off here. transformers 5
    rebuilds the normaliser from ``do_lower_case``/``strip_accents`` when a saved
    tokenizer is reloaded, so they are passed explicitly too. Chinese characters are
    split one per token, as in BERT."""
    # tokenizers and transformers take seconds to import: only when an encoder is built
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertTokenizerFast

    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(
            f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got "
            f"{vocab_size}"
        )
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    texts = [t for t in texts]
    if not any(t.strip() for t in texts):
        raise ValueError("cannot train a tokenizer: no non-empty texts given")
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        do_lower_case=False,
        strip_accents=False,
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
    attn_implementation: str = "eager",
):
    """The (tokenizer, ``BertModel``) pair that ``cfg`` describes.

    ``cfg.name_or_path`` None: a WordPiece tokenizer trained on ``texts`` and a
    random-init BERT of ``cfg``'s geometry. Otherwise the tokenizer and weights of that
    hub id or local directory (``pretrained``), or its geometry at random init
    (``pretrained=False``). ``attn_implementation="eager"`` (default) lets callers ask
    for attention weights."""
    from transformers import AutoConfig, AutoTokenizer, BertModel

    if cfg.name_or_path is None:
        if texts is None:
            raise ValueError(
                "build_text_encoder: name_or_path is None, so texts are needed to "
                "train a tokenizer"
            )
        tokenizer = train_wordpiece_tokenizer(texts, cfg.vocab_size)
        conf = bert_config(cfg, len(tokenizer), tokenizer.pad_token_id)
        conf._attn_implementation = attn_implementation
        return tokenizer, BertModel(conf, add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(cfg.name_or_path)
    if cfg.pretrained:
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
    return tokenizer, model
