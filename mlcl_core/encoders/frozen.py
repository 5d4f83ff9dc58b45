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
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from mlcl_core.adapters.layer import Route


class FrozenPrefix:
    """Per-clip memo of a frozen wav2vec2 backbone's states after its first layer.

    Args:
        backbone: a ``Wav2Vec2Model`` whose layers are wrapped in
            :class:`~mlcl_core.adapters.layer.AdaptedLayer` (``.layer``, ``.adapters``);
            every parameter outside the adapters must be frozen for the memo to apply.
    """

    def __init__(self, backbone: nn.Module) -> None:
        self.backbone = backbone
        self.states: dict[bytes, torch.Tensor] = {}
        self._weights: tuple = ()
        self._digest = b""

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
        self, feats: torch.Tensor, feat_mask: torch.Tensor, route: Route
    ) -> torch.Tensor:
        """``backbone.encoder(feature_projection(feats), feat_mask)``'s last hidden
        state (B, T, D), from the stored first-layer states of every row.

        ``feats`` (B, T, C), ``feat_mask`` (B, T) bool with every row's valid frames
        first (as :func:`mlcl_core.padding.pad` makes them); ``route``: the adapters'
        routing of this forward (``AudioEncoder.route``)."""
        self._check_weights()
        lengths = feat_mask.sum(1)  # (B,)
        if not torch.equal(
            feat_mask, torch.arange(feat_mask.shape[1]) < lengths[:, None]
        ):
            raise ValueError("FrozenPrefix: every row's valid frames must come first")
        encoder = self.backbone.encoder
        hidden = feats.new_zeros(*feat_mask.shape, self.backbone.config.hidden_size)
        for i, n in enumerate(lengths.tolist()):
            hidden[i, :n] = self._states(feats[i, :n])
        attention_mask = _bidirectional_mask(self.backbone.config, hidden, feat_mask)
        first, *rest = encoder.layers
        torch.rand([])  # the LayerDrop draw Wav2Vec2Encoder makes for every layer
        hidden = first.adapters(hidden, route)
        for layer in rest:
            torch.rand([])
            hidden = layer(hidden, attention_mask=attention_mask)
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        return hidden

    @torch.no_grad()
    def _states(self, row: torch.Tensor) -> torch.Tensor:
        """The first layer's output (n, D) for one clip's features (n, C), stored."""
        data = row.detach().contiguous()
        key = hashlib.blake2b(
            f"{tuple(data.shape)}{data.dtype}".encode() + data.numpy().tobytes(),
            digest_size=16,
        ).digest()
        if key not in self.states:
            encoder = self.backbone.encoder
            hidden, _ = self.backbone.feature_projection(data[None])  # (1, n, D)
            hidden = hidden + encoder.pos_conv_embed(hidden)
            hidden = encoder.dropout(encoder.layer_norm(hidden))
            out = encoder.layers[0].layer(hidden, attention_mask=None)
            self.states[key] = (out[0] if isinstance(out, tuple) else out)[0]
        return self.states[key]

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


def _bidirectional_mask(
    config: object, hidden: torch.Tensor, feat_mask: torch.Tensor
) -> torch.Tensor | None:
    """The attention mask ``Wav2Vec2Encoder.forward`` builds from ``feat_mask``."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(
        config=config, inputs_embeds=hidden, attention_mask=feat_mask
    )
