"""mlcl_core: the library behind the MLCL book.

Importing the package is light (no torch); import submodules for the parts you need:
``corpora``, ``speech``, ``config``, ``encoders``, ``adapters``, ``losses``, ``fusion``,
``model``, ``metrics``, ``baselines``, ``training``, ``experiments``, ``plots``.
"""

__version__ = "0.1.0"
