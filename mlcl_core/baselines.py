"""The paper's baselines (section 4.2) and SIB-200's TF-IDF n-gram classifier.

Text-only BERT baselines share the :class:`~mlcl_core.training.Trainer` with MLCL:

- ``unique``: one text model per language, trained and evaluated on that language only
  (with the tiny profile each has its own WordPiece tokenizer, trained on its language);
- ``combined``: one model trained on every language at once (rows = sentence x language);
- ``combined+fgm`` / ``combined+pgd``: ``combined`` with adversarial training on the word
  embedding matrix (:class:`FGM`, eps 0.03; :class:`PGD`, eps 0.01, alpha 0.01, K 10 - the
  paper's settings). PGD costs about K + 1 forward/backward passes per step.

``tfidf-linear`` / ``tfidf-mlp``: a TF-IDF character n-gram classifier per language
(scikit-learn), SIB-200's strong simple baseline and the one to beat on Tibetan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from mlcl_core.config import ExperimentConfig
from mlcl_core.outputs import ModelOutput
from mlcl_core.training import Evaluation, FitResult, Trainer, seed_everything

TEXT_SYSTEMS: tuple[str, ...] = ("unique", "combined", "combined+fgm", "combined+pgd")
NGRAM_SYSTEMS: tuple[str, ...] = ("tfidf-linear", "tfidf-mlp")
BASELINES: tuple[str, ...] = NGRAM_SYSTEMS + TEXT_SYSTEMS


# --------------------------------------------------------------------------- text models
class TextClassifier(nn.Module):
    """A BERT-family encoder with a linear head on the [CLS] (or mean) state, over K languages.

    ``forward`` takes a :func:`mlcl_core.batching.collate` batch (no audio needed) and scores
    its K*B rows, language-major (row r = language r // B, sentence r % B).
    """

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str = "cls", dropout: float = 0.1) -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}; known: cls, mean")
        self.encoder, self.pooling = encoder, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word-embedding matrix E that FGM and PGD perturb."""
        return self.encoder.get_input_embeddings()

    def forward(self, batch: dict[str, Any]) -> ModelOutput:
        input_ids, attn = batch["input_ids"], batch["attention_mask"]  # (K, B, L)
        k, b, l = input_ids.shape
        mask = attn.reshape(k * b, l)  # (R, L)
        states = self.encoder(input_ids=input_ids.reshape(k * b, l), attention_mask=mask).last_hidden_state  # (R, L, D)
        if self.pooling == "cls":
            sent = states[:, 0]  # (R, D)
        else:
            w = mask.unsqueeze(-1).to(states.dtype)  # (R, L, 1)
            sent = (states * w).sum(1) / w.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(sent))  # (R, C)
        y = batch["y"].repeat(k)  # (R,)
        group = torch.arange(k, device=y.device).repeat_interleave(b)  # (R,)
        loss = nn.functional.cross_entropy(logits.float(), y)
        return ModelOutput(loss, logits, y, group, parts={"ce": loss.item()})


def _embedding_weight(model: nn.Module) -> nn.Parameter:
    if not hasattr(model, "get_input_embeddings"):
        raise ValueError(f"{type(model).__name__} has no get_input_embeddings(); adversarial training needs it")
    return model.get_input_embeddings().weight


@dataclass
class FGM:
    """Fast Gradient Method (Miyato et al. 2017) on the word-embedding matrix E.

    After the clean backward: ``r = eps * g / ||g||`` (g = grad of E, Frobenius norm of the
    whole matrix; skipped when the norm is 0 or not finite), add r to E, forward and backward
    again (gradients accumulate on the clean ones), restore E.
    """

    eps: float = 0.03

    def attack(self, model: nn.Module, batch: dict, loss_fn: Callable[[], torch.Tensor]) -> None:
        emb = _embedding_weight(model)
        if emb.grad is None:
            return
        norm = torch.linalg.vector_norm(emb.grad)
        if not torch.isfinite(norm) or norm == 0:
            return
        backup = emb.data.clone()
        emb.data.add_(self.eps * emb.grad / norm)
        loss_fn().backward()
        emb.data.copy_(backup)


@dataclass
class PGD:
    """Projected Gradient Descent (Madry et al. 2018) on the word-embedding matrix E.

    K steps of size ``alpha`` along the normalised gradient, each projected back into the
    Frobenius ``eps``-ball around the clean E0. The clean gradients are backed up; the first
    K-1 steps only search the perturbation (their gradients are discarded); the last restores
    the clean gradients and adds the adversarial gradient at the final perturbation. E is
    restored before the optimiser step.
    """

    eps: float = 0.01
    alpha: float = 0.01
    steps: int = 10
    _log: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"PGD steps must be >= 1, got {self.steps}")

    def attack(self, model: nn.Module, batch: dict, loss_fn: Callable[[], torch.Tensor]) -> None:
        emb = _embedding_weight(model)
        if emb.grad is None:
            return
        params = [p for p in model.parameters() if p.grad is not None]
        clean_grads = [p.grad.clone() for p in params]
        e0 = emb.data.clone()
        for t in range(self.steps):
            norm = torch.linalg.vector_norm(emb.grad)
            if torch.isfinite(norm) and norm > 0:
                emb.data.add_(self.alpha * emb.grad / norm)
                delta = emb.data - e0
                dnorm = torch.linalg.vector_norm(delta)
                if dnorm > self.eps:  # project onto the eps-ball
                    emb.data.copy_(e0 + self.eps * delta / dnorm)
            if t < self.steps - 1:
                model.zero_grad(set_to_none=False)
            else:
                for p, g in zip(params, clean_grads):
                    p.grad.copy_(g)
            loss_fn().backward()
        self._log.append(float(torch.linalg.vector_norm(emb.data - e0)))
        emb.data.copy_(e0)


def adversary_for(system: str) -> FGM | PGD | None:
    """The adversarial hook of a baseline system, with the paper's settings."""
    if system.endswith("+fgm"):
        return FGM(eps=0.03)
    if system.endswith("+pgd"):
        return PGD(eps=0.01, alpha=0.01, steps=10)
    return None


@dataclass
class BaselineRun:
    """Outcome of one baseline run: test and dev predictions, training curves and timings."""

    test: Evaluation
    dev: Evaluation
    fits: dict[str, FitResult]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def _text_loaders(cfg: ExperimentConfig, corpus: Any, tokenizer: Any, languages: Sequence[str]):
    from mlcl_core.batching import ParallelDataset, make_loader

    def loader(split: str, shuffle: bool):
        ds = ParallelDataset(corpus, split, tokenizer, languages, cfg.data.max_text_len)
        return make_loader(ds, cfg.train.batch_size, shuffle=shuffle, seed=cfg.train.seed)
    return loader("train", True), loader("dev", False), loader("test", False)


def train_text_model(cfg: ExperimentConfig, corpus: Any, languages: Sequence[str], adversary: Any = None,
                     checkpoint_dir: str | Path | None = None,
                     progress: bool = True) -> tuple[Evaluation, Evaluation, FitResult]:
    """Train one text classifier on ``languages`` of ``corpus``; (test, dev, fit) of its best epoch."""
    from mlcl_core.encoders import build_text_encoder

    seed_everything(cfg.train.seed)  # the random init depends on the seed
    train = corpus.split("train")
    tokenizer, encoder = build_text_encoder(cfg.text, [t for lang in languages for t in train[lang]])
    model = TextClassifier(encoder, len(corpus.labels), cfg.text.pooling, cfg.text.dropout)
    train_loader, dev_loader, test_loader = _text_loaders(cfg, corpus, tokenizer, languages)
    trainer = Trainer(model, cfg.train, checkpoint_dir=checkpoint_dir, adversary=adversary, progress=progress)
    fit = trainer.fit(train_loader, dev_loader)
    return trainer.evaluate(test_loader), trainer.evaluate(dev_loader), fit


def run_text_baseline(cfg: ExperimentConfig, corpus: Any, system: str, checkpoint_dir: str | Path | None = None,
                      progress: bool = True) -> BaselineRun:
    """Run ``unique``, ``combined``, ``combined+fgm`` or ``combined+pgd`` with ``cfg``'s seed."""
    if system not in TEXT_SYSTEMS:
        raise ValueError(f"unknown text baseline {system!r}; known: {', '.join(TEXT_SYSTEMS)}")
    languages = cfg.data.languages
    start = time.perf_counter()
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if system == "unique":
        runs = {lang: train_text_model(cfg, corpus, [lang], None, ckpt / lang if ckpt else None, progress)
                for lang in languages}
        test = Evaluation.concat([r[0] for r in runs.values()])
        dev = Evaluation.concat([r[1] for r in runs.values()])
        fits = {lang: r[2] for lang, r in runs.items()}
    else:
        test, dev, fit = train_text_model(cfg, corpus, languages, adversary_for(system), ckpt, progress)
        fits = {"all": fit}
    return BaselineRun(test, dev, fits, time.perf_counter() - start)


# --------------------------------------------------------------------------- TF-IDF n-grams
@dataclass(frozen=True)
class NgramConfig:
    """TF-IDF character n-gram features and the classifier on top.

    Args:
        classifier: ``linear`` (multinomial LogisticRegression) or ``mlp`` (one hidden layer).
        analyzer: scikit-learn analyzer; ``char_wb`` keeps n-grams inside space-separated
            chunks (Tibetan and Chinese have few spaces, so most n-grams are plain character n-grams).
        ngram_range: smallest and largest n.
        max_features: vocabulary size (most frequent n-grams).
        C: inverse regularisation of the linear model.
        hidden: MLP hidden width.
        max_iter: optimiser iterations (MLP: epochs).
    """

    classifier: str = "mlp"
    analyzer: str = "char_wb"
    ngram_range: tuple[int, int] = (1, 4)
    max_features: int = 20000
    C: float = 10.0  # noqa: N815 - scikit-learn's name
    hidden: int = 64
    max_iter: int = 30

    def __post_init__(self) -> None:
        if self.classifier not in ("linear", "mlp"):
            raise ValueError(f"unknown n-gram classifier {self.classifier!r}; known: linear, mlp")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must satisfy 1 <= min <= max, got {self.ngram_range}")


def _ngram_classifier(ncfg: NgramConfig, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if ncfg.classifier == "linear":
        return LogisticRegression(C=ncfg.C, max_iter=max(ncfg.max_iter, 200), random_state=seed)
    return MLPClassifier(hidden_layer_sizes=(ncfg.hidden,), max_iter=ncfg.max_iter, random_state=seed)


def _ngram_evaluation(corpus: Any, split: str, lang: str, y_hat: np.ndarray) -> Evaluation:
    table = corpus.split(split)
    return Evaluation([str(i) for i in table["id"]], [lang] * len(table), np.asarray(corpus.label_ids(split)),
                      np.asarray(y_hat), (lang,))


def run_ngram_baseline(corpus: Any, languages: Sequence[str], ncfg: NgramConfig = NgramConfig(),
                       seed: int = 0) -> BaselineRun:
    """TF-IDF character n-grams + a linear or MLP classifier, one per language (as in SIB-200)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer

    missing = [lang for lang in languages if lang not in corpus.languages]
    if missing:
        raise ValueError(f"languages {missing} not in corpus {corpus.name!r}; it has {list(corpus.languages)}")
    start = time.perf_counter()
    tests, devs, info = [], [], {}
    for lang in languages:
        vec = TfidfVectorizer(analyzer=ncfg.analyzer, ngram_range=tuple(ncfg.ngram_range),
                              max_features=ncfg.max_features, sublinear_tf=True)
        x_train = vec.fit_transform(corpus.split("train")[lang])  # (N, F) sparse
        clf = _ngram_classifier(ncfg, seed)
        with warnings.catch_warnings():
            # a capped number of iterations is the point of the small budget, not a problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, corpus.label_ids("train"))
        for split, out in (("test", tests), ("dev", devs)):
            out.append(_ngram_evaluation(corpus, split, lang, clf.predict(vec.transform(corpus.split(split)[lang]))))
        info[lang] = {"features": int(x_train.shape[1])}
    return BaselineRun(Evaluation.concat(tests), Evaluation.concat(devs), {}, time.perf_counter() - start, info)


def run_baseline(cfg: ExperimentConfig, corpus: Any, system: str, checkpoint_dir: str | Path | None = None,
                 progress: bool = True, ngram: NgramConfig | None = None) -> BaselineRun:
    """Any baseline by name (see ``BASELINES``), with ``cfg``'s languages and seed."""
    if system in NGRAM_SYSTEMS:
        ncfg = replace(ngram or NgramConfig(), classifier=system.split("-", 1)[1])
        return run_ngram_baseline(corpus, cfg.data.languages, ncfg, cfg.train.seed)
    if system in TEXT_SYSTEMS:
        return run_text_baseline(cfg, corpus, system, checkpoint_dir, progress)
    raise ValueError(f"unknown baseline {system!r}; known: {', '.join(BASELINES)}")
