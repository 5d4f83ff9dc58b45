"""Bottleneck adapters in the audio encoder: SimAdapter, MetaAdapter, and their
preparation.

:mod:`.layer` holds the modules (bottleneck, SimAdapter fusion, the per-layer block and
its routing); :mod:`.prepare` the stage before joint training (SimAdapter's two stages,
MetaAdapter's first-order meta-learning)."""

from mlcl_core.adapters.layer import (
    SIM_MODES,
    AdaptedLayer,
    BottleneckAdapter,
    LayerAdapters,
    Route,
    SimAdapterFusion,
)
from mlcl_core.adapters.prepare import (
    Batch,
    attention_by_language,
    meta_step_size,
    meta_train,
    outer_update,
    prepare_adapters,
    split_support_query,
)

__all__ = [
    "SIM_MODES",
    "AdaptedLayer",
    "BottleneckAdapter",
    "LayerAdapters",
    "Route",
    "SimAdapterFusion",
    "Batch",
    "attention_by_language",
    "meta_step_size",
    "meta_train",
    "outer_update",
    "prepare_adapters",
    "split_support_query",
]
