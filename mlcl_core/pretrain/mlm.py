"""A tiny "mBERT": WordPiece vocabulary and masked-LM pre-training on an mBERT-like
language mix.

mBERT's pre-training saw a lot of Chinese, a little Burmese and no Tibetan; the pool
here (``../shared/data/sib200-pretrain``: the SIB-200 training splits of 87 languages
mBERT covers) has the same shape, and :data:`DEFAULT_WEIGHTS` repeats Simplified Chinese
three times on top. Only ``train.tsv`` files are read, so no dev or test sentence of any
language is ever seen, and a Tibetan-script language in the pool is refused. The
tokenizer is trained on the same mix, so Tibetan ends up outside the vocabulary, as it
is for mBERT.

The result is saved like a hub checkpoint (``BertForMaskedLM`` + tokenizer), so the tiny
profile loads it through the same ``from_pretrained`` path as the paper profile's mBERT.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from mlcl_core.config import TextEncoderConfig

#: Extra repetitions of a language's sentences (others: 1). The pool already holds three
#: Chinese varieties (zho_Hans, zho_Hant, yue_Hant) against one Burmese.
DEFAULT_WEIGHTS: dict[str, int] = {"zho_Hans": 3}
#: Scripts mBERT's pre-training did not cover; the pool must not contain them.
EXCLUDED_SCRIPTS = ("Tibt",)


@dataclass(frozen=True)
class MLMSettings:
    """Everything the text pre-training depends on (written into the provenance file).

    Args:
        vocab_size: WordPiece vocabulary size.
        uncased: BERT's uncased normaliser (lowercase, strip accents) instead of the
            cased one.
        max_len: tokens per sentence, [CLS] and [SEP] included.
        max_positions: position embeddings of the checkpoint (>= the tiny profile's 64
            tokens).
        steps, batch_size, lr, warmup, weight_decay: the optimiser (AdamW, linear
            warm-up over ``warmup`` of the steps, then linear decay to 0).
        mask_prob: share of tokens selected for prediction (BERT's 80/10/10
            replacement).
        weights: language -> repetitions in the pool (:data:`DEFAULT_WEIGHTS`).
        max_per_language: keep at most this many sentences of each language (``None``:
            all).
        seed: seed of masking, batching and initialisation.
        text: the encoder geometry (the tiny profile's ``TextEncoderConfig``).
    """

    vocab_size: int = 8000
    uncased: bool = False
    max_len: int = 64
    max_positions: int = 128
    steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    warmup: float = 0.05
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    max_per_language: int | None = None
    seed: int = 0
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(
                f"steps must be >= 1 and batch_size >= 2, "
                f"got {self.steps}, {self.batch_size}"
            )
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.max_positions < self.max_len:
            raise ValueError(
                f"max_positions ({self.max_positions}) < max_len ({self.max_len})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_pool(
    root: str | Path,
    weights: Mapping[str, int] | None = None,
    languages: Sequence[str] | None = None,
    max_per_language: int | None = None,
) -> tuple[list[str], dict[str, int]]:
    """The texts of ``root/<lang>/train.tsv`` (column ``text``), repeated by
    weight.

    Returns the texts and, per language, how many sentences it contributed (after
    weighting). Only training splits are read; a Tibetan-script language raises
    ``ValueError``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"pre-training pool {root} not found (expected <lang>/train.tsv files)"
        )
    found = sorted(p.parent.name for p in root.glob("*/train.tsv"))
    langs = list(languages) if languages is not None else found
    missing = sorted(set(langs) - set(found))
    if not langs or missing:
        raise ValueError(f"no train.tsv for {missing or 'any language'} under {root}")
    banned = [lang for lang in langs if lang.rsplit("_", 1)[-1] in EXCLUDED_SCRIPTS]
    if banned:
        raise ValueError(
            f"the pool must not contain {EXCLUDED_SCRIPTS} script languages: {banned}"
        )
    weights = dict(weights or {})
    texts: list[str] = []
    counts: dict[str, int] = {}
    for lang in langs:
        column = pd.read_csv(root / lang / "train.tsv", sep="\t", quoting=3, dtype=str)[
            "text"
        ]
        sents = [t for t in column.dropna().tolist() if t.strip()][:max_per_language]
        rep = int(weights.get(lang, 1))
        texts += sents * rep
        counts[lang] = len(sents) * rep
    return texts, counts


def mask_tokens(
    ids: torch.Tensor,
    special: torch.Tensor,
    vocab_size: int,
    mask_id: int,
    prob: float,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of (B, L) ``ids``: inputs and labels (-100 where nothing is
    predicted).

    ``special`` (B, L) marks [CLS]/[SEP]/[PAD], never selected. Of the selected tokens
    80 % become [MASK], 10 % a random token, 10 % stay.
    """
    chosen = (torch.rand(ids.shape, generator=g) < prob) & ~special  # (B, L)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=g)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(vocab_size, ids.shape, generator=g)[swap]
    return inputs, labels


def _lr_factor(step: int, total: int, warmup: float) -> float:
    ramp = max(1, int(total * warmup))
    return (
        (step + 1) / ramp
        if step < ramp
        else max(0.0, (total - step) / max(1, total - ramp))
    )


def pretrain_mlm(
    texts: Sequence[str],
    settings: MLMSettings,
    out_dir: str | Path,
    log_every: int = 50,
) -> dict:
    """Train the tokenizer and the masked LM on ``texts``; save both to ``out_dir``.

    Returns a summary: vocabulary size, steps, sentences, seconds and the loss curve
    (mean MLM loss per ``log_every`` steps).
    """
    from transformers import BertForMaskedLM

    from mlcl_core.encoders import bert_config, train_wordpiece_tokenizer

    if len(texts) < settings.batch_size:
        raise ValueError(
            f"{len(texts)} texts are fewer than one batch of {settings.batch_size}"
        )
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    tokenizer = train_wordpiece_tokenizer(
        texts, settings.vocab_size, uncased=settings.uncased
    )
    encoded = tokenizer(list(texts), truncation=True, max_length=settings.max_len)[
        "input_ids"
    ]
    conf = bert_config(settings.text, len(tokenizer), tokenizer.pad_token_id)
    conf.max_position_embeddings = settings.max_positions
    model = BertForMaskedLM(conf)
    opt = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, settings.steps, settings.warmup)
    )
    g = torch.Generator().manual_seed(settings.seed)
    specials = torch.tensor(
        sorted({tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id})
    )
    order: list[int] = []
    curve, window = [], []
    model.train()
    for step in range(settings.steps):
        if len(order) < settings.batch_size:  # a new pass over the pool, in a new order
            order += torch.randperm(len(encoded), generator=g).tolist()
        batch, order = order[: settings.batch_size], order[settings.batch_size :]
        ids = _pad([encoded[i] for i in batch], tokenizer.pad_token_id)  # (B, L)
        inputs, labels = mask_tokens(
            ids,
            torch.isin(ids, specials),
            len(tokenizer),
            tokenizer.mask_token_id,
            settings.mask_prob,
            g,
        )
        loss = _mlm_loss(model, inputs, (ids != tokenizer.pad_token_id).long(), labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if not math.isnan(loss.item()):
            window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == settings.steps:
            curve.append({"step": step + 1, "loss": sum(window) / max(1, len(window))})
            print(
                f"  mlm step {step + 1}/{settings.steps}: loss {curve[-1]['loss']:.3f}",
                flush=True,
            )
            window = []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {
        "vocab_size": len(tokenizer),
        "steps": settings.steps,
        "sentences": len(texts),
        "seconds": round(time.perf_counter() - start, 1),
        "loss_curve": curve,
    }


def _mlm_loss(
    model, inputs: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the masked positions only: the vocabulary projection of the
    other 85 % of the tokens (most of a tiny BERT's compute) would be thrown away."""
    hidden = model.bert(
        input_ids=inputs, attention_mask=attention_mask
    ).last_hidden_state
    chosen = labels != -100  # (B, L)
    logits = model.cls(hidden[chosen])  # (M, V)
    return torch.nn.functional.cross_entropy(logits, labels[chosen])


def _pad(seqs: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    longest = max(len(s) for s in seqs)
    out = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out
