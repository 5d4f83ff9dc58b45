"""Bottleneck adapters in the audio encoder: SimAdapter, MetaAdapter, and their preparation.

The audio encoder (:mod:`mlcl_core.encoders`) wraps every wav2vec2 transformer layer in an
:class:`AdaptedLayer`, which applies a :class:`LayerAdapters` block to the layer's output:

* ``none``: nothing (the frozen backbone alone);
* ``metaadapter``: one shared :class:`BottleneckAdapter` (Hou et al. 2021a), whose
  initialisation is meta-learned across the languages by :func:`meta_train`;
* ``simadapter``: one adapter per language, combined per layer by :class:`SimAdapterFusion`
  (Hou et al. 2021b), an attention over the adapters' outputs.

:func:`prepare_adapters` is the stage before joint MLCL training. The paper's adapters were
trained for speech recognition; our corpus has topic labels but no transcripts usable for ASR
of synthetic speech, so the per-language task here is *speech topic classification*: a
temporary linear head on the masked mean of the audio encoder's frames, discarded afterwards.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # only for type hints; encoders imports this module
    from mlcl_core.config import AdapterConfig, AudioEncoderConfig, ExperimentConfig
    from mlcl_core.encoders import AudioEncoder

#: Modes of the SimAdapter block: ``single`` runs only the current language's adapter (stage 1),
#: ``fusion`` attends over every language's adapter (stage 2 and joint training).
SIM_MODES = ("single", "fusion")


class BottleneckAdapter(nn.Module):
    """A residual bottleneck ``A(z) = z + W_up act(W_down LN(z))`` that starts as the identity.

    Bias-free as in Hou et al.; ``W_up`` is zero at init, so inserting the adapter into a
    pretrained network changes nothing until it is trained.
    """

    def __init__(self, dim: int, bottleneck: int, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"unknown activation {activation!r}; known: relu, gelu")
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck, bias=False)
        self.up = nn.Linear(bottleneck, dim, bias=False)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        nn.init.zeros_(self.up.weight)

    def delta(self, z: torch.Tensor) -> torch.Tensor:
        """The residual branch ``W_up act(W_down LN(z))`` alone; (..., D) -> (..., D)."""
        return self.up(self.act(self.down(self.norm(z))))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.delta(z)


class SimAdapterFusion(nn.Module):
    """Attention over N adapters' outputs for one layer (SimAdapter, Hou et al. 2021b).

    ``q = W_Q x + b_Q``, ``k_i = W_K a_i + b_K``, ``v_i = W_V a_i``,
    ``alpha_i = softmax_i(q . k_i / sqrt(temp))``, output ``x + sum_i alpha_i v_i``.
    Here ``a_i`` is adapter i's residual branch (:meth:`BottleneckAdapter.delta`), as in the
    AdapterFusion code SimAdapter builds on; the residual ``x`` is added once after the
    fusion. With zero-init ``W_up`` every ``a_i`` is 0, so the block starts as the identity;
    ``W_V = I`` and small ``W_Q``, ``W_K`` make the attention start near uniform.
    """

    def __init__(self, dim: int, num_adapters: int, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.num_adapters = num_adapters
        self.temperature = temperature
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim, bias=False)
        for lin in (self.query, self.key):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)
        with torch.no_grad():
            self.value.weight.copy_(torch.eye(dim))

    def forward(self, x: torch.Tensor, deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse ``deltas`` (B, T, N, D) given the layer output ``x`` (B, T, D).

        Returns the fused states (B, T, D) and the attention ``alpha`` (B, T, N).
        """
        q = self.query(x)  # (B, T, D)
        k = self.key(deltas)  # (B, T, N, D)
        v = self.value(deltas)  # (B, T, N, D)
        scores = torch.einsum("btd,btnd->btn", q, k) / math.sqrt(self.temperature)
        alpha = scores.softmax(dim=-1)  # (B, T, N)
        return x + torch.einsum("btn,btnd->btd", alpha, v), alpha

    def value_penalty(self) -> torch.Tensor:
        """``||I - W_V||_F^2``: keeps the value map near the identity."""
        eye = torch.eye(self.value.weight.shape[0], device=self.value.weight.device)
        return (eye - self.value.weight).pow(2).sum()


@dataclass
class Route:
    """Where the current forward pass goes: shared by the encoder and its layer wrappers.

    The wrapped wav2vec2 layers are called by the Hugging Face encoder loop, which cannot pass
    our arguments through; the encoder writes them here before the loop instead.
    """

    lang: str = ""
    mode: str = "fusion"
    # One encoder call for several languages (speed, issue 8): row b of the batch
    # belongs to language ``languages[row_lang[b]]``; None means every row is ``lang``.
    row_lang: torch.Tensor | None = None  # (B,) long
    row_names: tuple[str, ...] = ()  # every row's language name, when row_lang is set
    frame_mask: torch.Tensor | None = None  # (B, T) bool
    attention: list[torch.Tensor] = field(default_factory=list)  # per layer, (B, T, N)


class LayerAdapters(nn.Module):
    """The adapter block after one transformer layer, for one adapter kind."""

    def __init__(self, dim: int, cfg: "AdapterConfig", languages: Sequence[str]) -> None:
        super().__init__()
        self.kind = cfg.kind
        self.languages = tuple(languages)
        if cfg.kind == "metaadapter":
            self.shared = BottleneckAdapter(dim, cfg.bottleneck, cfg.activation)
        elif cfg.kind == "simadapter":
            self.per_lang = nn.ModuleDict(
                {lang: BottleneckAdapter(dim, cfg.bottleneck, cfg.activation) for lang in self.languages})
            self.fusion = SimAdapterFusion(dim, len(self.languages), cfg.sim_temperature)
        elif cfg.kind != "none":
            raise ValueError(f"unknown adapter kind {cfg.kind!r}; known: simadapter, metaadapter, none")

    def forward(self, h: torch.Tensor, route: Route) -> torch.Tensor:
        """Apply the adapter(s) for ``route.lang`` to the layer output ``h`` (B, T, D)."""
        if self.kind == "none":
            return h
        if self.kind == "metaadapter":
            return self.shared(h)
        if route.mode == "single" and route.row_lang is None:
            return self.per_lang[route.lang](h)
        if route.mode == "single":  # per-row routing: each row through its language's
            out = h
            for i, lang in enumerate(self.languages):
                rows = (route.row_lang == i).view(-1, 1, 1)
                out = torch.where(rows, self.per_lang[lang](h), out)
            return out
        deltas = torch.stack([self.per_lang[lang].delta(h) for lang in self.languages], dim=2)  # (B,T,N,D)
        fused, alpha = self.fusion(h, deltas)
        route.attention.append(alpha)
        return fused


class AdaptedLayer(nn.Module):
    """A wav2vec2 transformer layer followed by its adapter block.

    transformers 5 layers return a tensor, older ones a tuple whose first item is the hidden
    states: both are handled, so the wrapper does not depend on the version.
    """

    def __init__(self, layer: nn.Module, adapters: LayerAdapters, route: Route) -> None:
        super().__init__()
        self.layer = layer
        self.adapters = adapters
        self._route = route  # a plain object, not a module: shared, not registered

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        out = self.layer(hidden_states, *args, **kwargs)
        if isinstance(out, tuple):
            return (self.adapters(out[0], self._route),) + tuple(out[1:])
        return self.adapters(out, self._route)


# ----------------------------------------------------------------------------------------------
# MetaAdapter: first-order meta-learning of the shared adapter (Hou et al. 2021a)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # feats (B, T, C), feat_mask (B, T), y (B,)


def meta_step_size(t: int, num_steps: int, meta_lr: float) -> float:
    """Outer step size ``eps_t = meta_lr (1 - t / T)``: linear decay to 0 over ``num_steps``."""
    return meta_lr * (1.0 - t / num_steps)


def outer_update(theta0: dict[str, torch.Tensor], deltas: Sequence[dict[str, torch.Tensor]],
                 eps: float) -> dict[str, torch.Tensor]:
    """The outer update ``theta0 + eps * mean_languages(delta)``, a pure function of tensors."""
    if not deltas:
        raise ValueError("outer_update needs at least one inner delta")
    return {name: p + eps * torch.stack([d[name] for d in deltas]).mean(0) for name, p in theta0.items()}


def split_support_query(batch: Batch) -> tuple[Batch, Batch]:
    """The first and second halves of a batch (support, query)."""
    n = batch[0].shape[0]
    if n < 2:
        raise ValueError(f"meta-learning splits each batch into support and query halves: batch size {n} < 2")
    return tuple(t[: n // 2] for t in batch), tuple(t[n // 2:] for t in batch)  # type: ignore[return-value]


def meta_train(params: dict[str, nn.Parameter], task_loss: Callable[[str, Batch], torch.Tensor],
               batches: dict[str, Iterator[Batch]], num_steps: int, meta_lr: float,
               inner_lr: float) -> dict[str, list[float]]:
    """First-order meta-learning of ``params`` over the languages of ``batches``; in place.

    Per outer step t, from ``theta0`` and for each language: one Adam step on the support half
    (theta'), one on the query half (theta''), ``delta = theta'' - theta'``, back to theta0.
    Then ``theta = theta0 + eps_t * mean(delta)`` (:func:`outer_update`). The inner Adam
    (betas 0, 0.999) starts fresh for each language, so a language's delta does not depend on
    the order of the languages. Returns per-step mean support loss (at theta0) and query loss
    (at theta'), and eps_t.
    """
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
            deltas.append({name: p.detach() - theta1[name] for name, p in params.items()})
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


# ----------------------------------------------------------------------------------------------
# Preparation before joint training: speech topic classification per language


def _cycle(batches: Sequence[Batch]) -> Iterator[Batch]:
    if not batches:
        raise ValueError("prepare_adapters: a language has no batches")
    while True:
        yield from batches


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _classify_loss(encoder: "AudioEncoder", head: nn.Linear, lang: str, batch: Batch) -> torch.Tensor:
    feats, feat_mask, y = (t.to(_device(head)) for t in batch)
    _, pooled = encoder(feats, feat_mask, lang)  # (B, D)
    return F.cross_entropy(head(pooled), y)


def _train(params: list[nn.Parameter], loss_fn: Callable[[], torch.Tensor], steps: int, lr: float) -> list[float]:
    """Adam with clipping at 5 (as in Hou et al.) for ``steps`` steps; the loss of each step."""
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


def _prepare_simadapter(encoder: "AudioEncoder", data: dict[str, Iterator[Batch]], num_labels: int,
                        cfg: "AdapterConfig") -> dict[str, Any]:
    """Stage 1: each language's adapter on its own language; stage 2: only the fusion."""
    blocks = encoder.adapter_blocks()
    stage1: dict[str, list[float]] = {}
    encoder.set_mode("single")
    for lang in encoder.languages:
        head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
        params = [p for b in blocks for p in b.per_lang[lang].parameters()] + list(head.parameters())
        stage1[lang] = _train(params, lambda: _classify_loss(encoder, head, lang, next(data[lang])),
                              cfg.prepare_steps, cfg.prepare_lr)
    for b in blocks:  # the language adapters are done: from now on only the fusion trains
        b.per_lang.requires_grad_(False)
    encoder.set_mode("fusion")
    head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
    order = _cycle([(lang,) for lang in encoder.languages])

    def fusion_loss() -> torch.Tensor:
        (lang,) = next(order)
        return _classify_loss(encoder, head, lang, next(data[lang])) + encoder.regularization(lang)

    params = [p for b in blocks for p in b.fusion.parameters()] + list(head.parameters())
    stage2 = _train(params, fusion_loss, cfg.prepare_steps * len(encoder.languages), cfg.prepare_lr)
    return {"stage1": stage1, "stage2": stage2}


def _prepare_metaadapter(encoder: "AudioEncoder", data: dict[str, Iterator[Batch]], num_labels: int,
                         cfg: "AdapterConfig") -> dict[str, Any]:
    """Meta-learn the shared adapter's initialisation (and a throwaway head) across languages."""
    head = nn.Linear(encoder.hidden_size, num_labels).to(_device(encoder))
    params = {f"layer{i}.{n}": p for i, b in enumerate(encoder.adapter_blocks())
              for n, p in b.shared.named_parameters()}
    params.update({f"head.{n}": p for n, p in head.named_parameters()})
    return {"meta": meta_train(params, lambda lang, batch: _classify_loss(encoder, head, lang, batch),
                               data, cfg.meta_steps, cfg.meta_lr, cfg.inner_lr)}


@torch.no_grad()
def attention_by_language(encoder: "AudioEncoder", batches_by_lang: dict[str, Sequence[Batch]]) -> dict[str, list[list[float]]]:
    """SimAdapter attention per language, averaged over that language's batches: lang -> (layers, N)."""
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


def prepare_adapters(audio_encoder: "AudioEncoder", batches_by_lang: dict[str, list[Batch]],
                     num_labels: int, cfg: "AdapterConfig", seed: int) -> dict[str, Any]:
    """The adapter stage before joint MLCL training; returns its history.

    ``batches_by_lang`` maps each language to batches ``(feats (B, T, C), feat_mask (B, T),
    y (B,))`` of cached features and topic labels. SimAdapter: stage 1 trains each language's
    adapter on its own language, stage 2 only the fusion (with its regularisers), leaving the
    encoder in fusion mode with the language adapters frozen. MetaAdapter: first-order
    meta-learning of the shared adapter. ``none``: nothing to do. The task is speech topic
    classification through a temporary linear head on the pooled frames (see module docs).
    """
    if cfg.kind != audio_encoder.adapter_cfg.kind:
        raise ValueError(f"prepare_adapters: cfg.kind {cfg.kind!r} differs from the encoder's "
                         f"{audio_encoder.adapter_cfg.kind!r}")
    missing = [lang for lang in audio_encoder.languages if lang not in batches_by_lang]
    if cfg.kind != "none" and missing:
        raise ValueError(f"prepare_adapters: no batches for {', '.join(missing)}")
    if num_labels < 2:
        raise ValueError(f"num_labels must be >= 2, got {num_labels}")
    history: dict[str, Any] = {"kind": cfg.kind}
    if cfg.kind == "none":
        return history
    start = time.perf_counter()
    data = {lang: _cycle(batches_by_lang[lang]) for lang in audio_encoder.languages}
    was_training = audio_encoder.training
    audio_encoder.train()
    with torch.random.fork_rng(devices=[]):  # heads and dropout draw from a seeded, private stream
        torch.manual_seed(seed)
        prepare = _prepare_simadapter if cfg.kind == "simadapter" else _prepare_metaadapter
        history.update(prepare(audio_encoder, data, num_labels, cfg))
    audio_encoder.train(was_training)
    if cfg.kind == "simadapter":
        history["attention"] = attention_by_language(
            audio_encoder, {lang: batches_by_lang[lang] for lang in audio_encoder.languages})
    history["seconds"] = time.perf_counter() - start
    return history


def parameter_counts(audio_encoder: "AudioEncoder", text_model: nn.Module | None = None):
    """Parameters per component, total / trainable / frozen, as a pandas DataFrame.

    Components: text encoder, audio feature extractor (convolutions), audio transformer
    (feature projection, positional convolution and layers), adapters, fusion (SimAdapter).
    Works on models built on the ``meta`` device (shapes only).
    """
    import pandas as pd

    rows: dict[str, list[int]] = {}

    def add(component: str, p: nn.Parameter) -> None:
        row = rows.setdefault(component, [0, 0])
        row[0 if p.requires_grad else 1] += p.numel()

    for p in (text_model.parameters() if text_model is not None else []):
        add("text encoder", p)
    for name, p in audio_encoder.named_parameters():
        if ".adapters.fusion." in name:
            add("fusion", p)
        elif ".adapters." in name:
            add("adapters", p)
        elif name.startswith("backbone.feature_extractor."):
            add("audio feature extractor", p)
        else:
            add("audio transformer", p)
    table = pd.DataFrame([{"component": c, "trainable": t, "frozen": f, "total": t + f}
                          for c, (t, f) in rows.items()])
    return table


def batches_from_features(features: dict[tuple[str, str], torch.Tensor], ids: Sequence[str], y: Sequence[int],
                          languages: Sequence[str], batch_size: int) -> dict[str, list[Batch]]:
    """Batches for :func:`prepare_adapters` from cached features ``{(lang, id): (T_i, C)}``.

    Sentences go in the given order; a last batch smaller than 2 is dropped (meta-learning
    splits every batch in halves). Each batch is padded to its longest clip.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    if len(ids) != len(y):
        raise ValueError(f"{len(ids)} ids but {len(y)} labels")
    missing = [(lang, str(i)) for lang in languages for i in ids if (lang, str(i)) not in features]
    if missing:
        raise ValueError(f"no cached features for {len(missing)} clips, e.g. {missing[0]}")
    out: dict[str, list[Batch]] = {}
    for lang in languages:
        out[lang] = []
        for start in range(0, len(ids) - 1, batch_size):
            clips = [features[(lang, str(i))] for i in ids[start:start + batch_size]]
            if len(clips) < 2:
                continue
            feats = nn.utils.rnn.pad_sequence(clips, batch_first=True).float()  # (B, T, C)
            lengths = torch.tensor([c.shape[0] for c in clips])
            mask = torch.arange(feats.shape[1])[None, :] < lengths[:, None]  # (B, T)
            out[lang].append((feats, mask, torch.tensor(list(y[start:start + len(clips)]))))
    return out


def identity_gap(audio_cfg: "AudioEncoderConfig", adapter_cfg: "AdapterConfig", languages: Sequence[str],
                 feats: torch.Tensor, feat_mask: torch.Tensor, seed: int) -> float:
    """Largest |wrapped - base| over every language (and SimAdapter mode) at initialisation.

    Builds a backbone, keeps an untouched copy, wraps the original with fresh adapters and
    runs both on ``feats`` (B, T, C): 0 means the adapters start as the identity.
    """
    from mlcl_core.encoders import AudioEncoder, build_audio_encoder

    torch.manual_seed(seed)
    backbone = build_audio_encoder(audio_cfg, replace(adapter_cfg, kind="none"), languages).backbone.eval()
    base = copy.deepcopy(backbone)
    wrapped = AudioEncoder(backbone, adapter_cfg, languages).eval()
    gap = 0.0
    with torch.no_grad():
        expected = base.encoder(base.feature_projection(feats)[0], attention_mask=feat_mask).last_hidden_state
        for mode in (SIM_MODES if adapter_cfg.kind == "simadapter" else ("fusion",)):
            wrapped.set_mode(mode)
            for lang in languages:
                frames, _ = wrapped(feats, feat_mask, lang)
                gap = max(gap, float((frames - expected)[feat_mask].abs().max()))
    return gap


def geometry_parameter_counts(cfg: "ExperimentConfig", kinds: Sequence[str] = ("simadapter", "metaadapter", "none")):
    """Parameter counts of ``cfg``'s encoder geometry for each adapter kind, without weights.

    The models are built on the ``meta`` device from the geometry fields of ``cfg.text`` and
    ``cfg.audio`` (a named checkpoint is not read), at ``cfg.text.vocab_size``: shapes only,
    no memory and no download, so the paper geometry is counted in a second on a CPU.
    """
    import pandas as pd
    from transformers import BertModel

    from mlcl_core.encoders import bert_config, build_audio_encoder

    audio_cfg = replace(cfg.audio, name_or_path=None, pretrained=False)
    tables = []
    with torch.device("meta"):
        text = BertModel(bert_config(cfg.text, cfg.text.vocab_size), add_pooling_layer=False)
        for kind in kinds:
            audio = build_audio_encoder(audio_cfg, replace(cfg.adapter, kind=kind), cfg.data.languages)
            tables.append(parameter_counts(audio, text).assign(profile=cfg.profile, kind=kind))
    return pd.concat(tables, ignore_index=True)
