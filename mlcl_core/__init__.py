"""mlcl_core: the library behind the MLCL book.

Importing the package is light (no torch); import submodules for the parts you need.
In pipeline order: ``config``, ``corpora``, ``translation``, ``speech``, ``features``,
``batching``, ``encoders``, ``adapters``, ``fusion``, ``losses``, ``model``,
``training`` (with ``runtime`` and ``distributed``), ``baselines`` (and ``textlcl``, the
speech-free ablation), ``systems``, ``metrics`` (and ``paired``, differences between
systems), ``results``, ``tables`` (and ``paper_rows``, Tables 4-5 and Figures 3-4),
``ablations`` (chapter 6's rows), ``datalength`` (chapter 5's sizes), ``search``,
``inspect``, ``plots``.
"""

import os

# Idle OpenMP threads sleep instead of spinning (read once, when torch loads its OpenMP
# runtime, so only if this package is imported first). On a shared CPU the default spin
# made tiny-profile training steps 8-20 times slower (benchmarks/README.md); it changes
# no result. An explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
