"""The paper's baselines (section 4.2) and SIB-200's TF-IDF n-gram classifier.

Text-only BERT baselines share the :class:`~mlcl_core.training.Trainer` with MLCL:

- ``unique``: one text model per language, trained and evaluated on that language only
  (with the tiny profile each has its own WordPiece tokenizer, trained on its language);
- ``combined``: one model trained on every language at once (rows = sentence x
  language);
- ``combined+fgm`` / ``combined+pgd``: ``combined`` with adversarial training on the
  word embedding matrix (:class:`FGM`, eps 0.03; :class:`PGD`, eps 0.01, alpha 0.01, K
  10 - the paper's settings; the tiny profile's K is 3, ``TrainConfig.pgd_steps``). PGD
  costs K + 1 forward passes per step and K - 1 of its backward passes only reach E.

``tfidf-linear`` / ``tfidf-mlp``: a TF-IDF character n-gram classifier per language
(scikit-learn), SIB-200's strong simple baseline and the one to beat on Tibetan.

Every run returns a :class:`~mlcl_core.outputs.SystemRun`; :mod:`mlcl_core.systems`
registers them by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlcl_core import distributed
from mlcl_core.batching import make_loaders
from mlcl_core.config import POOLING_KINDS, ExperimentConfig, NgramConfig, check_choice
from mlcl_core.corpora import Corpus
from mlcl_core.encoders import build_text_encoder, pool
from mlcl_core.encoders.dropout import Dropout
from mlcl_core.encoders.packed import text_states
from mlcl_core.outputs import Evaluation, FitResult, ModelOutput, SystemRun
from mlcl_core.runtime import seed_everything
from mlcl_core.training import Trainer


# --------------------------------------------------------------------------- text
# models
class TextClassifier(nn.Module):
    """A BERT-family encoder with a linear head on the [CLS] (or mean) state, over K
    languages.

    ``forward`` takes a :func:`mlcl_core.batching.collate` batch (no audio needed) and
    scores its K*B rows, language-major (row r = language r // B, sentence r % B)."""

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        pooling: str = "cls",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_choice("pooling", pooling, POOLING_KINDS)
        self.encoder, self.pooling = encoder, pooling
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)
        self.text_path = "packed"  # encoders.packed.TEXT_PATHS (speed benchmark)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word-embedding matrix E that FGM and PGD perturb."""
        return self.encoder.get_input_embeddings()

    def encode(
        self, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """Token states (R, L, D) and mask (R, L) of the batch's R = K*B texts
        (language-major), on the real tokens only where the encoder allows
        (:func:`~mlcl_core.encoders.packed.text_states`), and K, B."""
        input_ids, attn = batch["input_ids"], batch["attention_mask"]  # (K, B, L)
        k, b, n_tok = input_ids.shape
        mask = attn.reshape(k * b, n_tok)  # (R, L)
        ids = input_ids.reshape(k * b, n_tok)
        return text_states(self.encoder, ids, mask, self.text_path), mask, k, b

    def classify(self, batch: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        """The batch's R = K*B rows scored: pooled sentence vectors (R, D), logits
        (R, C), gold labels and language groups (R,), and the cross-entropy (a
        subclass adds its own loss on the pooled vectors)."""
        states, mask, k, b = self.encode(batch)  # (R, L, D), (R, L)
        pooled = pool(states, mask, self.pooling)  # (R, D)
        logits = self.classifier(self.dropout(pooled))  # (R, C)
        y = batch["y"].repeat(k)  # (R,)
        group = torch.arange(k, device=y.device).repeat_interleave(b)  # (R,)
        ce = nn.functional.cross_entropy(logits.float(), y)
        return pooled, logits, y, group, ce

    def forward(self, batch: dict[str, Any]) -> ModelOutput:
        _, logits, y, group, ce = self.classify(batch)
        return ModelOutput(ce, logits, y, group, parts={"ce": ce.item()})


def _embedding_weight(model: nn.Module) -> nn.Parameter:
    if not hasattr(model, "get_input_embeddings"):
        raise ValueError(
            f"{type(model).__name__} has no get_input_embeddings(); adversarial "
            "training needs it"
        )
    return model.get_input_embeddings().weight


@dataclass
class FGM:
    """Fast Gradient Method (Miyato et al. 2017) on the word-embedding matrix E.

    After the clean backward: ``r = eps * g / ||g||`` (g = grad of E, Frobenius norm of
    the whole matrix; skipped when the norm is 0 or not finite), add r to E, forward and
    backward again (gradients accumulate on the clean ones), restore E."""

    eps: float = 0.03

    def attack(
        self, model: nn.Module, batch: dict, loss_fn: Callable[[], torch.Tensor]
    ) -> None:
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

    K steps of size ``alpha`` along the normalised gradient, each projected back into
    the Frobenius ``eps``-ball around the clean E0. The first K-1 steps only search the
    perturbation; the last adds the adversarial gradient at the final perturbation to
    the clean gradients. E is restored before the optimiser step.

    The search steps ask autograd for E's gradient alone (``torch.autograd.grad``), so
    they skip every weight gradient and leave the clean ``.grad`` untouched: an
    intermediate pass costs a forward and the input-gradient half of a backward instead
    of a full backward: a PGD step 1.5-1.6x faster (issue 8, README, Performance). The
    search and the gradients are the same as backing the clean gradients up and running
    full backwards (``tests/test_baselines.py``). Under torchrun (DDP) the search steps
    still run full backwards, so that every process follows the all-reduced gradient;
    ``full_backwards=True`` does so everywhere (the speed benchmark's "before" row)."""

    eps: float = 0.01
    alpha: float = 0.01
    steps: int = 10
    full_backwards: bool = False
    _log: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"PGD steps must be >= 1, got {self.steps}")

    def attack(
        self, model: nn.Module, batch: dict, loss_fn: Callable[[], torch.Tensor]
    ) -> None:
        emb = _embedding_weight(model)
        if emb.grad is None:
            return
        local = not self.full_backwards and distributed.world()[1] == 1
        if not local:  # full backwards overwrite .grad: keep the clean gradients
            params = [p for p in model.parameters() if p.grad is not None]
            clean_grads = [p.grad.clone() for p in params]
        e0, grad = emb.data.clone(), emb.grad
        for t in range(self.steps):
            norm = torch.linalg.vector_norm(grad)
            if torch.isfinite(norm) and norm > 0:
                emb.data.add_(self.alpha * grad / norm)
                delta = emb.data - e0
                dnorm = torch.linalg.vector_norm(delta)
                if dnorm > self.eps:  # project onto the eps-ball
                    emb.data.copy_(e0 + self.eps * delta / dnorm)
            loss = loss_fn()
            if t == self.steps - 1:  # clean + adversarial gradient
                if not local:
                    for p, g in zip(params, clean_grads, strict=True):
                        p.grad.copy_(g)
                loss.backward()
            elif local:
                (grad,) = torch.autograd.grad(loss, emb)
            else:
                model.zero_grad(set_to_none=False)
                loss.backward()
                grad = emb.grad
        self._log.append(float(torch.linalg.vector_norm(emb.data - e0)))
        emb.data.copy_(e0)


def adversary_for(system: str, pgd_steps: int = 10) -> FGM | PGD | None:
    """The adversarial hook of a baseline system, with the paper's settings (FGM eps
    0.03; PGD eps 0.01, alpha 0.01) and ``pgd_steps`` PGD steps (the paper's 10;
    ``TrainConfig.pgd_steps``)."""
    if system.endswith("+fgm"):
        return FGM(eps=0.03)
    if system.endswith("+pgd"):
        return PGD(eps=0.01, alpha=0.01, steps=pgd_steps)
    return None


def train_text_model(
    cfg: ExperimentConfig,
    corpus: Corpus,
    languages: Sequence[str],
    adversary: Any = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    head: Callable[..., TextClassifier] | None = None,
) -> tuple[Evaluation, Evaluation, FitResult]:
    """Train one text classifier on ``languages`` of ``corpus``.

    ``head`` builds the classifier (default :class:`TextClassifier`; a subclass such
    as :class:`mlcl_core.textlcl.TextLCLClassifier` adds a loss). Returns (test, dev,
    fit) of its best epoch.
    """
    seed_everything(cfg.train.seed)  # the random init depends on the seed
    train = corpus.split("train")
    texts = [t for lang in languages for t in train[lang]]
    tokenizer, encoder = build_text_encoder(cfg.text, texts)
    model = (head or TextClassifier)(
        encoder, len(corpus.labels), cfg.text.pooling, cfg.text.dropout
    )
    loaders = make_loaders(cfg, corpus, tokenizer, languages=languages)
    trainer = Trainer(
        model,
        cfg.train,
        checkpoint_dir=checkpoint_dir,
        adversary=adversary,
        progress=progress,
    )
    fit = trainer.fit(loaders["train"], loaders["dev"])
    return (*evaluate_test_dev(trainer, loaders), fit)


def evaluate_test_dev(
    trainer: Trainer, loaders: Mapping[str, Any]
) -> tuple[Evaluation, Evaluation]:
    """The trained model's predictions on the test and the dev split of ``loaders``,
    the pair a :class:`~mlcl_core.outputs.SystemRun` holds (the text baselines, the
    speech-free row and MLCL all end with it; a search trial scores dev only)."""
    return trainer.evaluate(loaders["test"]), trainer.evaluate(loaders["dev"])


def run_unique(
    cfg: ExperimentConfig,
    corpus: Corpus,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> SystemRun:
    """BERT-Unique: one text model per language, with ``cfg``'s seed."""
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    runs = {
        lang: train_text_model(
            cfg, corpus, [lang], None, ckpt / lang if ckpt else None, progress
        )
        for lang in cfg.data.languages
    }
    return SystemRun(
        Evaluation.concat([r[0] for r in runs.values()]),
        Evaluation.concat([r[1] for r in runs.values()]),
        {lang: r[2] for lang, r in runs.items()},
    )


def run_combined(
    cfg: ExperimentConfig,
    corpus: Corpus,
    adversary: Any = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    head: Callable[..., TextClassifier] | None = None,
) -> SystemRun:
    """BERT-Combined (with an optional FGM/PGD ``adversary``), with ``cfg``'s seed:
    one classifier (``head``, as in :func:`train_text_model`) on every language."""
    test, dev, fit = train_text_model(
        cfg, corpus, cfg.data.languages, adversary, checkpoint_dir, progress, head=head
    )
    return SystemRun(test, dev, {"all": fit})


# ------------------------------------------------------------------------- TF-IDF
# n-grams
def _ngram_classifier(ncfg: NgramConfig, seed: int):
    # scikit-learn takes seconds to import: only when an n-gram baseline runs
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if ncfg.classifier == "linear":
        return LogisticRegression(
            C=ncfg.C, max_iter=max(ncfg.max_iter, 200), random_state=seed
        )
    return MLPClassifier(
        hidden_layer_sizes=(ncfg.hidden,), max_iter=ncfg.max_iter, random_state=seed
    )


def _ngram_evaluation(
    corpus: Corpus, split: str, lang: str, y_hat: np.ndarray
) -> Evaluation:
    table = corpus.split(split)
    return Evaluation(
        [str(i) for i in table["id"]],
        [lang] * len(table),
        np.asarray(corpus.label_ids(split)),
        np.asarray(y_hat),
        (lang,),
    )


def run_ngram_baseline(
    corpus: Corpus,
    languages: Sequence[str],
    ncfg: NgramConfig | None = None,
    seed: int = 0,
) -> SystemRun:
    """TF-IDF character n-grams + a linear or MLP classifier per language (as in
    SIB-200)."""
    ncfg = ncfg or NgramConfig()
    # scikit-learn takes seconds to import: only when an n-gram baseline runs
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer

    missing = [lang for lang in languages if lang not in corpus.languages]
    if missing:
        raise ValueError(
            f"languages {missing} not in corpus {corpus.name!r}; it has "
            f"{list(corpus.languages)}"
        )
    tests, devs, info = [], [], {}
    for lang in languages:
        vec = TfidfVectorizer(
            analyzer=ncfg.analyzer,
            ngram_range=tuple(ncfg.ngram_range),
            max_features=ncfg.max_features,
            sublinear_tf=True,
        )
        x_train = vec.fit_transform(corpus.split("train")[lang])  # (N, F) sparse
        clf = _ngram_classifier(ncfg, seed)
        with warnings.catch_warnings():
            # a capped number of iterations is the point of the small budget, not a
            # problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, corpus.label_ids("train"))
        for split, out in (("test", tests), ("dev", devs)):
            out.append(
                _ngram_evaluation(
                    corpus,
                    split,
                    lang,
                    clf.predict(vec.transform(corpus.split(split)[lang])),
                )
            )
        info[lang] = {"features": int(x_train.shape[1])}
    return SystemRun(Evaluation.concat(tests), Evaluation.concat(devs), {}, info)
