"""Baselines: the text classifier's rows, FGM/PGD mechanics on E, the n-gram and text
runs."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert

from mlcl_core.baselines import (
    FGM,
    PGD,
    TextClassifier,
    adversary_for,
    run_combined,
    run_ngram_baseline,
    run_unique,
)
from mlcl_core.config import NgramConfig, make_config
from mlcl_core.corpora import load_sib200

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")


def _model(seed: int = 0) -> TextClassifier:
    # deterministic grads
    return TextClassifier(tiny_bert(seed, dropout=0.0), num_labels=3, dropout=0.0)


def _batch(k: int = 2, b: int = 4, length: int = 6) -> dict:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (k, b, length), generator=g)  # (K, B, L)
    mask = torch.ones(k, b, length, dtype=torch.long)
    mask[:, :, -2:] = 0
    return {
        "ids": [f"s{i}" for i in range(b)],
        "langs": LANGS[:k],
        "y": torch.tensor([0, 1, 2, 1]),
        "input_ids": ids,
        "attention_mask": mask,
    }


def test_text_classifier_rows_are_language_major():
    out = _model()(_batch())
    assert out.logits.shape == (8, 3)
    assert out.group.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert out.y.tolist() == [0, 1, 2, 1, 0, 1, 2, 1]
    assert out.loss.ndim == 0 and out.parts["ce"] == pytest.approx(out.loss.item())


def _clean_grads(model, batch):
    model.zero_grad()
    model(batch).loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_fgm_adds_the_gradient_at_the_perturbed_embeddings_and_restores_them():
    model, batch = _model(), _batch()
    emb = model.get_input_embeddings().weight
    e0 = emb.data.clone()
    clean = _clean_grads(model, batch)
    # expected: clean + gradient at E + eps * g / ||g||
    ref = _model()
    ref.get_input_embeddings().weight.data += (
        0.03
        * clean["encoder.embeddings.word_embeddings.weight"]
        / clean["encoder.embeddings.word_embeddings.weight"].norm()
    )
    adv = _clean_grads(ref, batch)
    FGM(eps=0.03).attack(model, batch, lambda: model(batch).loss)
    assert torch.equal(emb.data, e0)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, clean[n] + adv[n])


def test_pgd_stays_in_the_eps_ball_keeps_clean_gradients_and_restores_embeddings():
    model, batch = _model(), _batch()
    emb = model.get_input_embeddings().weight
    e0 = emb.data.clone()
    clean = _clean_grads(model, batch)
    adv_losses = []

    def loss_fn():
        loss = model(batch).loss
        adv_losses.append(loss.item())
        return loss

    pgd = PGD(eps=0.01, alpha=0.004, steps=5)
    pgd.attack(model, batch, loss_fn)
    assert len(adv_losses) == 5
    assert torch.equal(emb.data, e0)
    # 5 x 0.004 > eps: projected onto the ball
    assert pgd._log[-1] == pytest.approx(0.01, rel=1e-4)
    # the final gradient is clean + one adversarial gradient (not 5 accumulated ones)
    extra = {n: p.grad - clean[n] for n, p in model.named_parameters()}
    w = "classifier.weight"
    assert float(extra[w].norm()) == pytest.approx(float(clean[w].norm()), rel=0.2)
    assert adv_losses[-1] >= adv_losses[0] - 1e-6  # ascent on the loss


def _pgd_with_full_backwards(pgd, model, loss_fn):
    """PGD as first written: clean gradients backed up, every search step a full
    backward into ``.grad`` (the reference for the E-only search of :class:`PGD`)."""
    emb = model.get_input_embeddings().weight
    params = [p for p in model.parameters() if p.grad is not None]
    clean = [p.grad.clone() for p in params]
    e0 = emb.data.clone()
    for t in range(pgd.steps):
        norm = emb.grad.norm()
        emb.data.add_(pgd.alpha * emb.grad / norm)
        delta = emb.data - e0
        if delta.norm() > pgd.eps:
            emb.data.copy_(e0 + pgd.eps * delta / delta.norm())
        if t < pgd.steps - 1:
            model.zero_grad(set_to_none=False)
        else:
            for p, g in zip(params, clean):
                p.grad.copy_(g)
        loss_fn().backward()
    emb.data.copy_(e0)


def test_pgd_search_steps_give_the_gradients_of_full_backwards():
    batch = _batch()
    fast, ref = _model(), _model()
    for m in (fast, ref):
        _clean_grads(m, batch)
    pgd = PGD(eps=0.01, alpha=0.004, steps=4)
    pgd.attack(fast, batch, lambda: fast(batch).loss)
    _pgd_with_full_backwards(pgd, ref, lambda: ref(batch).loss)
    grads = dict(ref.named_parameters())
    for n, p in fast.named_parameters():
        torch.testing.assert_close(p.grad, grads[n].grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(p.data, grads[n].data, rtol=0, atol=0)


def test_adversary_settings_are_the_papers():
    assert adversary_for("combined+fgm").eps == 0.03
    pgd = adversary_for("combined+pgd")
    assert (pgd.eps, pgd.alpha, pgd.steps) == (0.01, 0.01, 10)
    assert adversary_for("combined") is None
    with pytest.raises(ValueError, match="steps"):
        PGD(steps=0)


def test_the_tiny_profile_takes_three_pgd_steps_and_the_paper_ten():
    from mlcl_core.config import make_config

    tiny, paper = make_config("tiny"), make_config("paper")
    assert (tiny.train.pgd_steps, paper.train.pgd_steps) == (3, 10)
    assert adversary_for("combined+pgd", tiny.train.pgd_steps).steps == 3
    assert make_config("tiny", pgd_steps=10).train.pgd_steps == 10
    with pytest.raises(ValueError, match="pgd_steps must be >= 1"):
        make_config("tiny", pgd_steps=0)


@pytest.fixture(scope="module")
def corpus():
    return load_sib200(languages=LANGS).select(subset=48)


def test_ngram_baseline_predicts_every_test_row(corpus):
    run = run_ngram_baseline(
        corpus, LANGS[:2], NgramConfig(classifier="linear", max_features=2000)
    )
    assert len(run.test.y) == 2 * 48 and run.test.languages == LANGS[:2]
    assert set(run.test.accuracy) == set(LANGS[:2])
    # far above chance (1/7) on the training sentences' own labels? check on test: >
    # chance
    assert run.test.M > 1 / 7
    with pytest.raises(ValueError, match="unknown n-gram classifier"):
        NgramConfig(classifier="svm")
    with pytest.raises(ValueError, match="not in corpus"):
        run_ngram_baseline(corpus, ["eng_Latn"])


@pytest.mark.parametrize("system", ["unique", "combined+fgm"])
def test_text_baselines_train_and_predict(corpus, system):
    cfg = make_config(
        "tiny",
        languages=LANGS,
        num_epochs=1,
        batch_size=16,
        vocab_size=300,
        **{"text.hidden_size": 32, "text.num_layers": 1, "text.intermediate_size": 64},
    )
    if system == "unique":
        run = run_unique(cfg, corpus, progress=False)
    else:
        run = run_combined(cfg, corpus, adversary_for(system), progress=False)
    assert len(run.test.y) == 3 * 48 and set(run.test.lang) == set(LANGS)
    assert set(run.fits) == (set(LANGS) if system == "unique" else {"all"})
    assert all(len(f.history) == 1 for f in run.fits.values())
    # (an unknown system name is rejected by the registry: tests/test_systems.py)


def test_fgm_baseline_trains_with_the_hand_computed_perturbation(corpus, monkeypatch):
    """combined+fgm attacks at every step with r = 0.03 g / ||g|| on E, restores E."""
    real_attack = FGM.attack
    checks = []

    def checked_attack(self, model, batch, loss_fn):
        emb = model.get_input_embeddings().weight
        g, e0 = emb.grad.detach().clone(), emb.detach().clone()

        def perturbed_loss():
            r = emb.detach() - e0
            checks.append(torch.allclose(r, 0.03 * g / g.norm(), atol=1e-7))
            return loss_fn()

        real_attack(self, model, batch, perturbed_loss)
        checks.append(torch.equal(emb.detach(), e0))

    monkeypatch.setattr(FGM, "attack", checked_attack)
    cfg = make_config(
        "tiny",
        languages=LANGS,
        num_epochs=1,
        batch_size=16,
        vocab_size=300,
        **{"text.hidden_size": 32, "text.num_layers": 1, "text.intermediate_size": 64},
    )
    run_combined(cfg, corpus, adversary_for("combined+fgm"), progress=False)
    train_steps = -(-len(corpus.split("train")) // 16)
    assert len(checks) == 2 * train_steps and all(checks)
