"""Bottleneck adapters after every wav2vec2 layer: the modules and their routing.

The audio encoder (:mod:`mlcl_core.encoders`) wraps every wav2vec2 transformer layer in
an :class:`AdaptedLayer`, which applies a :class:`LayerAdapters` block to the layer's
output:

* ``none``: nothing (the frozen backbone alone);
* ``metaadapter``: one shared :class:`BottleneckAdapter` (Hou et al. 2021a), whose
  initialisation is meta-learned across the languages (:mod:`.prepare`);
* ``simadapter``: one adapter per language, combined per layer by
  :class:`SimAdapterFusion` (Hou et al. 2021b), an attention over the adapters' outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mlcl_core.config import ACTIVATIONS, AdapterConfig, check_choice

#: Modes of the SimAdapter block: ``single`` runs only the current language's adapter
#: (stage 1), ``fusion`` attends over every language's adapter (stage 2 and joint
#: training).
SIM_MODES = ("single", "fusion")


class BottleneckAdapter(nn.Module):
    """A residual bottleneck ``A(z) = z + W_up act(W_down LN(z))`` that starts as the
    identity.

    Bias-free as in Hou et al.; ``W_up`` is zero at init, so inserting the adapter into
    a pretrained network changes nothing until it is trained."""

    def __init__(self, dim: int, bottleneck: int, activation: str = "relu") -> None:
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck, bias=False)
        self.up = nn.Linear(bottleneck, dim, bias=False)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        nn.init.zeros_(self.up.weight)

    def delta(self, z: torch.Tensor) -> torch.Tensor:
        """The residual branch ``W_up act(W_down LN(z))`` alone; (..., D) -> (...,
        D)."""
        return self.up(self.act(self.down(self.norm(z))))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.delta(z)


class SimAdapterFusion(nn.Module):
    """Attention over N adapters' outputs for one layer (SimAdapter, Hou et al. 2021b).

    ``q = W_Q x + b_Q``, ``k_i = W_K a_i + b_K``, ``v_i = W_V a_i``, ``alpha_i =
    softmax_i(q . k_i / sqrt(temp))``, output ``x + sum_i alpha_i v_i``. Here ``a_i`` is
    adapter i's residual branch (:meth:`BottleneckAdapter.delta`), as in the
    AdapterFusion code SimAdapter builds on; the residual ``x`` is added once after the
    fusion. With zero-init ``W_up`` every ``a_i`` is 0, so the block starts as the
    identity; ``W_V = I`` and small ``W_Q``, ``W_K`` make the attention start near
    uniform."""

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

    def forward(
        self, x: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
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
    """Where the current forward pass goes: shared by the encoder and its layer
    wrappers.

    The wrapped wav2vec2 layers are called by the Hugging Face encoder loop, which
    cannot pass our arguments through; the encoder writes them here before the loop
    instead."""

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

    def __init__(self, dim: int, cfg: AdapterConfig, languages: Sequence[str]) -> None:
        super().__init__()
        self.kind = cfg.kind
        self.languages = tuple(languages)
        if cfg.kind == "metaadapter":
            self.shared = BottleneckAdapter(dim, cfg.bottleneck, cfg.activation)
        elif cfg.kind == "simadapter":
            self.per_lang = nn.ModuleDict(
                {
                    lang: BottleneckAdapter(dim, cfg.bottleneck, cfg.activation)
                    for lang in self.languages
                }
            )
            self.fusion = SimAdapterFusion(
                dim, len(self.languages), cfg.sim_temperature
            )

    def forward(self, h: torch.Tensor, route: Route) -> torch.Tensor:
        """Apply the adapter(s) for ``route.lang`` to the layer output ``h`` (B, T,
        D)."""
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
        # (B,T,N,D)
        deltas = torch.stack(
            [self.per_lang[lang].delta(h) for lang in self.languages], dim=2
        )
        fused, alpha = self.fusion(h, deltas)
        route.attention.append(alpha)
        return fused


class AdaptedLayer(nn.Module):
    """A wav2vec2 transformer layer followed by its adapter block.

    transformers 5 layers return a tensor, older ones a tuple whose first item is the
    hidden
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
