"""mlcl_core: the library behind the MLCL book.

Importing the package is light (no torch); import submodules for the parts you need.
In pipeline order: ``config``, ``corpora``, ``translation``, ``speech``, ``features``,
``batching``, ``encoders``, ``adapters``, ``fusion``, ``losses``, ``model``,
``training``, ``baselines``, ``systems``, ``metrics``, ``results``, ``tables``,
``search``, ``inspect``, ``plots``.
"""

__version__ = "0.1.0"
