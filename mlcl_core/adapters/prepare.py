"""The adapter stage before joint MLCL training: SimAdapter stages, MetaAdapter loop.

The paper's adapters were trained for speech recognition; our corpus has topic labels
but no transcripts usable for ASR of synthetic speech, so the per-language task here is
*speech topic classification*: a temporary linear head on the masked mean of the audio
encoder's frames, discarded afterwards. :func:`prepare_adapters` runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from mlcl_core.batching import Batch
from mlcl_core.config import AdapterConfig
from mlcl_core.runtime import autocast

if TYPE_CHECKING:  # hints only: encoders imports adapters.layer, not this module
    from mlcl_core.encoders import AudioEncoder

# ------------------------------------------------------------------------------------
# MetaAdapter: first-order meta-learning of the shared adapter (Hou et al. 2021a)


def meta_step_size(t: int, num_steps: int, meta_lr: float) -> float:
    """Outer step size ``eps_t = meta_lr (1 - t / T)``: linear decay to 0 over
    ``num_steps``."""
    return meta_lr * (1.0 - t / num_steps)


def outer_update(
    theta0: dict[str, torch.Tensor],
    deltas: Sequence[dict[str, torch.Tensor]],
    eps: float,
) -> dict[str, torch.Tensor]:
    """The outer update ``theta0 + eps * mean_languages(delta)``, a pure function of
    tensors."""
    if not deltas:
        raise ValueError("outer_update needs at least one inner delta")
    return {
        name: p + eps * torch.stack([d[name] for d in deltas]).mean(0)
        for name, p in theta0.items()
    }


def split_support_query(batch: Batch) -> tuple[Batch, Batch]:
    """The first and second halves of a batch (support, query)."""
    n = batch[0].shape[0]
    if n < 2:
        raise ValueError(
            f"meta-learning splits each batch into support and query halves: batch "
            f"size {n} < 2"
        )
    # type: ignore[return-value]
    return tuple(t[: n // 2] for t in batch), tuple(t[n // 2 :] for t in batch)


def meta_train(
    params: dict[str, nn.Parameter],
    task_loss: Callable[[str, Batch], torch.Tensor],
    batches: dict[str, Iterator[Batch]],
    num_steps: int,
    meta_lr: float,
    inner_lr: float,
) -> dict[str, list[float]]:
    """First-order meta-learning of ``params`` over the languages of ``batches``; in
    place.

    Per outer step t, from ``theta0`` and for each language: one Adam step on the
    support half (theta'), one on the query half (theta''), ``delta = theta'' -
    theta'``, back to theta0. Then ``theta = theta0 + eps_t * mean(delta)``
    (:func:`outer_update`). The inner Adam (betas 0, 0.999) starts fresh for each
    language, so a language's delta does not depend on the order of the languages.
    Returns per-step mean support loss (at theta0) and query loss (at theta'), and
    eps_t."""
    history: dict[str, list[float]] = {"support_loss": [], "query_loss": [], "eps": []}
    for t in range(num_steps):
        theta0 = {name: p.detach().clone() for name, p in params.items()}
        deltas, support_losses, query_losses = [], [], []
        for lang, it in batches.items():
            support, query = split_support_query(next(it))
            opt = torch.optim.Adam(params.values(), lr=inner_lr, betas=(0.0, 0.999))
            support_losses.append(_step(opt, task_loss(lang, support)))
            theta1 = {name: p.detach().clone() for name, p in params.items()}
            query_losses.append(_step(opt, task_loss(lang, query)))
            deltas.append(
                {name: p.detach() - theta1[name] for name, p in params.items()}
            )
            _load(params, theta0)
        eps = meta_step_size(t, num_steps, meta_lr)
        _load(params, outer_update(theta0, deltas, eps))
        history["support_loss"].append(sum(support_losses) / len(support_losses))
        history["query_loss"].append(sum(query_losses) / len(query_losses))
        history["eps"].append(eps)
    return history


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _load(params: dict[str, nn.Parameter], values: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(values[name])


# ------------------------------------------------------------------------------------
# Preparation before joint training: speech topic classification per language


def _cycle(batches: Sequence[Batch]) -> Iterator[Batch]:
    if not batches:
        raise ValueError("prepare_adapters: a language has no batches")
    while True:
        yield from batches


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _classify_loss(
    encoder: AudioEncoder, head: nn.Linear, lang: str, batch: Batch
) -> torch.Tensor:
    feats, feat_mask, y = (t.to(_device(head)) for t in batch)
    _, pooled = encoder(feats, feat_mask, lang)  # (B, D)
    return F.cross_entropy(head(pooled), y)


def _train(
    params: list[nn.Parameter],
    loss_fn: Callable[[], torch.Tensor],
    steps: int,
    lr: float,
) -> list[float]:
    """Adam with clipping at 5 (as in Hou et al.) for ``steps`` steps; the loss of each
    step."""
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _prepare_simadapter(
    encoder: AudioEncoder,
    data: dict[str, Iterator[Batch]],
    num_labels: int,
    cfg: AdapterConfig,
) -> dict[str, Any]:
    """Stage 1: each language's adapter on its own language; stage 2: only the
    fusion."""
    blocks = encoder.adapter_blocks()
    stage1: dict[str, list[float]] = {}
    encoder.set_mode("single")
    for lang in encoder.languages:
        head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
        params = [p for b in blocks for p in b.per_lang[lang].parameters()] + list(
            head.parameters()
        )
        stage1[lang] = _train(
            params,
            lambda head=head, lang=lang: _classify_loss(
                encoder, head, lang, next(data[lang])
            ),
            cfg.prepare_steps,
            cfg.prepare_lr,
        )
    # the language adapters are done: from now on only the fusion trains
    for b in blocks:
        b.per_lang.requires_grad_(False)
    encoder.set_mode("fusion")
    head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
    order = _cycle([(lang,) for lang in encoder.languages])

    def fusion_loss() -> torch.Tensor:
        (lang,) = next(order)
        return _classify_loss(
            encoder, head, lang, next(data[lang])
        ) + encoder.regularization(lang)

    params = [p for b in blocks for p in b.fusion.parameters()] + list(
        head.parameters()
    )
    stage2 = _train(
        params, fusion_loss, cfg.prepare_steps * len(encoder.languages), cfg.prepare_lr
    )
    return {"stage1": stage1, "stage2": stage2}


def _prepare_metaadapter(
    encoder: AudioEncoder,
    data: dict[str, Iterator[Batch]],
    num_labels: int,
    cfg: AdapterConfig,
) -> dict[str, Any]:
    """Meta-learn the shared adapter's initialisation (and a throwaway head) across
    languages."""
    head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
    params = {
        f"layer{i}.{n}": p
        for i, b in enumerate(encoder.adapter_blocks())
        for n, p in b.shared.named_parameters()
    }
    params.update({f"head.{n}": p for n, p in head.named_parameters()})
    return {
        "meta": meta_train(
            params,
            lambda lang, batch: _classify_loss(encoder, head, lang, batch),
            data,
            cfg.meta_steps,
            cfg.meta_lr,
            cfg.inner_lr,
        )
    }


@torch.no_grad()
def attention_by_language(
    encoder: AudioEncoder, batches_by_lang: dict[str, Sequence[Batch]]
) -> dict[str, list[list[float]]]:
    """SimAdapter attention per language, averaged over that language's batches: lang ->
    (layers, N)."""
    was_training = encoder.training
    encoder.eval()
    out = {}
    for lang, batches in batches_by_lang.items():
        per_batch = []
        for feats, feat_mask, _ in batches:
            encoder(feats.to(_device(encoder)), feat_mask.to(_device(encoder)), lang)
            per_batch.append(encoder.attention_weights())
        out[lang] = torch.stack(per_batch).mean(0).cpu().tolist()
    encoder.train(was_training)
    return out


def _train_adapters_only(encoder: AudioEncoder) -> None:
    """Train mode, with a frozen backbone's dropout off, as in joint training.

    Its weights never change, so dropout there only adds noise (see
    ``MLCLModel.train``); the adapters have no dropout of their own."""
    encoder.train()
    if not any(
        p.requires_grad
        for n, p in encoder.backbone.named_parameters()
        if ".adapters." not in n
    ):
        encoder.backbone.eval()


def prepare_adapters(
    audio_encoder: AudioEncoder,
    batches_by_lang: dict[str, list[Batch]],
    num_labels: int,
    cfg: AdapterConfig,
    seed: int,
    device: torch.device | str | None = None,
    bf16: bool = False,
) -> dict[str, Any]:
    """The adapter stage before joint MLCL training; returns its history.

    ``batches_by_lang`` maps each language to batches ``(feats (B, T, C), feat_mask (B,
    T), y (B,))`` of cached features and topic labels. SimAdapter: stage 1 trains each
    language's adapter on its own language, stage 2 only the fusion (with its
    regularisers), leaving the
    encoder in fusion mode with the language adapters frozen. MetaAdapter: first-order
    meta-learning of the shared adapter. ``none``: nothing to do. The task is speech
    topic classification through a temporary linear head on the pooled frames (see
    module docs). ``device``: move the encoder there first (the trainer's device, so
    that the paper profile's preparation runs on the GPU); ``bf16``: the trainer's
    autocast, applied on CUDA only (:func:`mlcl_core.runtime.autocast`)."""
    if cfg.kind != audio_encoder.adapter_cfg.kind:
        raise ValueError(
            f"prepare_adapters: cfg.kind {cfg.kind!r} differs from the encoder's "
            f"{audio_encoder.adapter_cfg.kind!r}"
        )
    missing = [lang for lang in audio_encoder.languages if lang not in batches_by_lang]
    if cfg.kind != "none" and missing:
        raise ValueError(f"prepare_adapters: no batches for {', '.join(missing)}")
    if num_labels < 2:
        raise ValueError(f"num_labels must be >= 2, got {num_labels}")
    history: dict[str, Any] = {"kind": cfg.kind}
    if cfg.kind == "none":
        return history
    start = time.perf_counter()
    if device is not None:
        audio_encoder.to(device)
    data = {lang: _cycle(batches_by_lang[lang]) for lang in audio_encoder.languages}
    was_training = audio_encoder.training
    _train_adapters_only(audio_encoder)
    # heads and dropout draw from a seeded, private stream
    with torch.random.fork_rng(devices=[]), autocast(_device(audio_encoder), bf16):
        torch.manual_seed(seed)
        prepare = (
            _prepare_simadapter if cfg.kind == "simadapter" else _prepare_metaadapter
        )
        history.update(prepare(audio_encoder, data, num_labels, cfg))
    audio_encoder.train(was_training)
    if cfg.kind == "simadapter":
        history["attention"] = attention_by_language(
            audio_encoder,
            {lang: batches_by_lang[lang] for lang in audio_encoder.languages},
        )
    history["seconds"] = time.perf_counter() - start
    return history
