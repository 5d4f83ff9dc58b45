"""Tell the chapters they run for the rendered book (``MLCL_BOOK_BUILD=1``).

The kernels that jupyter-book starts inherit this process's environment; the chapters'
helpers (:mod:`mlcl_core.display`) then keep progress bars out of the pages and show
each widget's static default view. JupyterLab and papermill runs do not set it.
"""

from __future__ import annotations

import os

from sphinx.application import Sphinx

from mlcl_core.display import BOOK_BUILD_ENV


def setup(app: Sphinx) -> dict:
    os.environ[BOOK_BUILD_ENV] = (
        "1"  # before any chapter executes (execution happens at read)
    )
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
