"""Serve MathJax from the built book itself, so equations render without a network.

MathJax 2.7 comes from the pinned ``jupyter-server-mathjax`` package (MathJax files
under Apache-2.0, the package BSD-3-Clause); after an HTML build its files are copied to
``_static/mathjax``, where ``mathjax_path`` in ``_config.yml`` points. Sphinx's default
is a CDN, which leaves every equation as raw ``\\(...\\)`` text for a reader who is
offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

TARGET = "mathjax"  # under _static/


def mathjax_source() -> Path:
    """The MathJax 2 tree shipped by jupyter-server-mathjax (holds MathJax.js)."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (source / "MathJax.js").is_file():
        raise ExtensionError(
            f"no MathJax.js under {source}: reinstall jupyter-server-mathjax"
        )
    return source


def check_path(app: Sphinx, config) -> None:
    """Refuse a CDN ``mathjax_path``: it is what made the pages depend on the
    network."""
    if "://" in config.mathjax_path or not config.mathjax_path.startswith(f"{TARGET}/"):
        raise ExtensionError(
            f"mathjax_path must point into _static/{TARGET}/, "
            f"got {config.mathjax_path!r}"
        )
    # fail at the start of the build, not after executing every chapter
    mathjax_source()


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """After a successful HTML build, copy MathJax into ``<outdir>/_static/mathjax``."""
    if exception is not None or app.builder.format != "html":
        return
    # localization/ holds translations of MathJax's menu; the book is English.
    shutil.copytree(
        mathjax_source(),
        Path(app.outdir) / "_static" / TARGET,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("localization", "*.md"),
    )


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_path)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
