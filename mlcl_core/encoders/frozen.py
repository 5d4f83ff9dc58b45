"""The frozen bottom of the audio encoder, computed once per clip (issue 8).

With a frozen wav2vec2 backbone in eval mode (what MLCL trains: only the adapters
learn, and :meth:`mlcl_core.model.MLCLModel.train` keeps the backbone's dropout off),
everything below the first adapter is a fixed function of one clip's cached features:
the feature projection, the positional convolution (kernel 128, costly on a CPU), the
layer norm and the first transformer layer. :class:`FrozenPrefix` computes it for
each clip alone, the first time the clip is seen, and keeps it in memory keyed by the
clip's features (a content hash), so the later epochs, dev evaluations, the test
evaluation and the adapter stage only pad the stored states and run the adapters and
the layers above.

Per row it is the same computation as the batched encoder: a padded frame is zero
before the positional convolution (as its zero padding of an unpadded clip) and masked
out of attention, so a clip's valid frames do not depend on its batch; the floats
differ from a padded batch in the last bits, as any change of batch shape does. The
random-number stream is kept: the encoder's per-layer LayerDrop draw
(``torch.rand([])``) is made for the skipped layer too. Anything else (a trainable
backbone, dropout on, a GPU, another encoder class) runs the backbone as before.

Every run builds a new model, but in the tiny profile every run has the same frozen
weights (the ``init_seed`` random init, or a shipped checkpoint), so the states can be
shared across runs and worker processes: with a ``cache_root`` (``build_mlcl`` sets
``SpeechConfig.feature_cache_dir``) they are also kept on disk, one ``.npy`` per clip
in a folder keyed by the frozen weights, the backbone's config and the torch version,
beside the features cache of :mod:`mlcl_core.features`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlcl_core.adapters.layer import Route
from mlcl_core.encoders.packed import GRID_BLOCKS, HeadGrid, wav2vec2_layer
from mlcl_core.features import clip_key
from mlcl_core.storage import atomic_path


class FrozenPrefix:
    """Per-clip memo of a frozen wav2vec2 backbone's states after its first layer.

    A clip's states are looked up in memory, then on disk (with a ``cache_root``),
    else computed and stored in both. Measured on the shared 2-core CPU for 1000 real
    clips (43 frames on average) of the tiny geometry: computing took 1.4 s (1.9 s
    with the writes, 22 MB on disk), loading the stored ``.npy`` files 0.2 s, in a
    fresh process too (``torch.load`` of ``.pt`` files loads about 3x slower).

    Args:
        backbone: a ``Wav2Vec2Model`` whose layers are wrapped in
            :class:`~mlcl_core.adapters.layer.AdaptedLayer` (``.layer``, ``.adapters``);
            every parameter outside the adapters must be frozen for the memo to apply.
        cache_root: also keep the states on disk, in ``<cache_root>/prefix-<key>/``
            with ``<key>`` a hash of the frozen weights, the backbone's config and the
            torch version (other weights never read them); ``None``: memory only. A
            file is written atomically (two processes storing one clip leave one whole
            file) and one that cannot be read is computed and written again.
    """

    def __init__(
        self, backbone: nn.Module, cache_root: str | Path | None = None
    ) -> None:
        self.backbone = backbone
        self.cache_root = cache_root
        self.states: dict[bytes, torch.Tensor] = {}
        self._weights: tuple = ()
        self._digest = b""
        self._store_key = ""
        # the layers above the prefix on the real frames only (issue 8); False: on
        # the padded batch (the speed benchmark's project+paddedaudio)
        self.packed = True

    def applies(self, feats: torch.Tensor) -> bool:
        """Whether the memo gives this forward the backbone's own result: a frozen
        backbone without dropout, on the CPU, of the plain wav2vec2 encoder class."""
        from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Encoder

        backbone = self.backbone
        adapters = self._adapter_ids()
        return (
            feats.device.type == "cpu"
            and not backbone.training
            and type(backbone.encoder) is Wav2Vec2Encoder
            and not torch.is_autocast_enabled("cpu")
            and not any(
                p.requires_grad for p in backbone.parameters() if id(p) not in adapters
            )
        )

    def _adapter_ids(self) -> set[int]:
        """The ids of the adapter blocks' parameters (they may train)."""
        return {
            id(p)
            for layer in self.backbone.encoder.layers
            for p in layer.adapters.parameters()
        }

    def encode(
        self,
        feats: torch.Tensor,
        feat_mask: torch.Tensor,
        route: Route,
        keys: Sequence[bytes] | None = None,
    ) -> torch.Tensor:
        """``backbone.encoder(feature_projection(feats), feat_mask)``'s last hidden
        state (B, T, D), from the stored first-layer states of every row.

        ``feats`` (B, T, C), ``feat_mask`` (B, T) bool with every row's valid frames
        first (as :func:`mlcl_core.padding.pad` makes them); ``route``: the adapters'
        routing of this forward (``AudioEncoder.route``); ``keys``: every row's
        :func:`~mlcl_core.features.clip_key` of its valid frames, when the caller has
        them (else each row is hashed here, every call)."""
        self._check_weights()
        lengths = feat_mask.sum(1)  # (B,)
        if not torch.equal(
            feat_mask, torch.arange(feat_mask.shape[1]) < lengths[:, None]
        ):
            raise ValueError("FrozenPrefix: every row's valid frames must come first")
        encoder = self.backbone.encoder
        # (N, D): every row's stored first-layer states, its valid frames in order
        held = [None] * len(lengths) if keys is None else map(self.states.get, keys)
        states = torch.cat(
            [  # a row's stored states by its key, without slicing its features
                self._states(feats[i, :n], None if keys is None else keys[i])
                if row is None
                else row
                for i, (n, row) in enumerate(zip(lengths.tolist(), held))
            ]
        )
        real = feat_mask.flatten().nonzero().squeeze(1)  # (N,) flat index b * T + t
        first, *rest = encoder.layers
        if self.packed and self._packs():  # the layers above on real frames only
            att = first.layer.attention
            grid = HeadGrid(feat_mask, att.num_heads, att.head_dim, GRID_BLOCKS)
            torch.rand([])  # the LayerDrop draw Wav2Vec2Encoder makes for every layer
            hidden = first.adapters(states, route)
            for layer in rest:
                torch.rand([])
                hidden = wav2vec2_layer(layer.layer, hidden, grid)
                hidden = layer.adapters(hidden, route)
            return _padded(hidden, real, feat_mask.shape)
        hidden = _padded(states, real, feat_mask.shape)
        attention_mask = _bidirectional_mask(self.backbone.config, hidden, feat_mask)
        torch.rand([])
        hidden = first.adapters(hidden, route)
        for layer in rest:
            torch.rand([])
            hidden = layer(hidden, attention_mask=attention_mask)
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        return hidden

    def _packs(self) -> bool:
        """Whether the layers above the prefix can run on packed frames: plain
        post-norm wav2vec2 layers and adapters that read one frame at a time (none,
        MetaAdapter's shared adapter; SimAdapter's routing and attention record read
        the padded layout)."""
        from transformers.models.wav2vec2.modeling_wav2vec2 import (
            Wav2Vec2EncoderLayer,
        )

        return all(
            type(layer.layer) is Wav2Vec2EncoderLayer
            and layer.adapters.kind in ("none", "metaadapter")
            for layer in self.backbone.encoder.layers
        )

    @torch.no_grad()
    def _states(self, row: torch.Tensor, key: bytes | None = None) -> torch.Tensor:
        """The first layer's output (n, D) for one clip's features (n, C): from
        memory, else from the disk store, else computed (and written to both).
        ``key``: the row's :func:`~mlcl_core.features.clip_key` (hashed here when
        ``None``)."""
        data = row.detach().contiguous()
        if key is None:
            key = clip_key(data)
        if key not in self.states:
            path = self._path(key)
            states = None if path is None else self._read(path, data.shape[0])
            if states is None:
                states = self._compute(data)
                if path is not None:
                    with atomic_path(path) as tmp, open(tmp, "wb") as f:
                        np.save(f, states.numpy(), allow_pickle=False)
            self.states[key] = states
        return self.states[key]

    def _compute(self, data: torch.Tensor) -> torch.Tensor:
        """Run the frozen bottom on one clip's features (n, C): states (n, D)."""
        encoder = self.backbone.encoder
        hidden, _ = self.backbone.feature_projection(data[None])  # (1, n, D)
        hidden = hidden + encoder.pos_conv_embed(hidden)
        hidden = encoder.dropout(encoder.layer_norm(hidden))
        out = encoder.layers[0].layer(hidden, attention_mask=None)
        return (out[0] if isinstance(out, tuple) else out)[0]

    def _path(self, key: bytes) -> Path | None:
        """The file of a clip's states in the disk store; ``None`` without one."""
        if self.cache_root is None:
            return None
        folder = Path(self.cache_root).expanduser() / f"prefix-{self._store_key}"
        return folder / f"{key.hex()}.npy"

    def _read(self, path: Path, n_frames: int) -> torch.Tensor | None:
        """A clip's stored states (n_frames, D), or ``None`` when the file is missing
        or is not such an array (truncated, foreign): the caller computes them."""
        try:
            held = torch.from_numpy(np.load(path, allow_pickle=False))
        except Exception:  # noqa: BLE001 - a missing or broken file is recomputed
            return None
        want = (n_frames, self.backbone.config.hidden_size)
        dtype = self.backbone.encoder.layer_norm.weight.dtype
        return held if held.shape == want and held.dtype == dtype else None

    def _check_weights(self) -> None:
        """Forget the stored states when a frozen weight changed (a move to another
        device, a checkpoint with other weights). Loading the same weights again (the
        trainer's best epoch) keeps them: only a changed content clears the memo."""
        adapters = self._adapter_ids()
        frozen = [p for p in self.backbone.parameters() if id(p) not in adapters]
        weights = tuple((id(p), p.data_ptr(), p._version) for p in frozen)
        if weights == self._weights:
            return
        digest = hashlib.blake2b(digest_size=16)
        for p in frozen:
            digest.update(p.detach().cpu().contiguous().numpy().tobytes())
        if digest.digest() != self._digest:
            self.states.clear()
        self._weights, self._digest = weights, digest.digest()
        # the disk store's folder: what else the states depend on joins the weights
        config = self.backbone.config
        attn = getattr(config, "_attn_implementation", None)
        extra = json.dumps([config.to_json_string(), str(attn), torch.__version__])
        self._store_key = hashlib.blake2b(
            self._digest + extra.encode(), digest_size=16
        ).hexdigest()


def _bidirectional_mask(
    config: object, hidden: torch.Tensor, feat_mask: torch.Tensor
) -> torch.Tensor | None:
    """The attention mask ``Wav2Vec2Encoder.forward`` builds from ``feat_mask``."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(
        config=config, inputs_embeds=hidden, attention_mask=feat_mask
    )


def _padded(
    packed: torch.Tensor, real: torch.Tensor, shape: torch.Size
) -> torch.Tensor:
    """Packed frames (N, D) at flat positions ``real`` into a zero-padded (B, T,
    D)."""
    out = packed.new_zeros(shape.numel(), packed.shape[-1])
    return out.index_copy(0, real, packed).view(*shape, -1)
