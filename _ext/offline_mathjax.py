"""Serve MathJax from the built book itself, so equations render without a network.

MathJax 3.2.2 comes from the pinned ``django-static-mathjax`` package (a plain copy of
MathJax's release files, Apache-2.0; the package needs no Django to install or to be
read from). After an HTML build its ``es5`` tree (the ``tex-mml-chtml`` bundle, the
CHTML fonts and the components MathJax loads on demand) is copied to
``_static/mathjax``, where ``mathjax_path`` in ``_config.yml`` points. Sphinx's default
is a CDN, which leaves every equation as raw ``\\(...\\)`` text for a reader offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

TARGET = "mathjax"  # under _static/
BUNDLE = "tex-mml-chtml.js"  # Sphinx's default MathJax 3 bundle, served locally


def mathjax_source() -> Path:
    """The MathJax 3 ``es5`` tree shipped by django-static-mathjax."""
    import mathjax

    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (source / BUNDLE).is_file():
        raise ExtensionError(
            f"no {BUNDLE} under {source}: reinstall django-static-mathjax"
        )
    return source


def check_path(app: Sphinx, config) -> None:
    """Refuse a CDN ``mathjax_path``: that made the pages depend on the network."""
    if config.mathjax_path != f"{TARGET}/{BUNDLE}":
        raise ExtensionError(
            f"mathjax_path must be {TARGET}/{BUNDLE} (served from _static), "
            f"got {config.mathjax_path!r}"
        )
    mathjax_source()  # fail before executing the chapters, not after


def _other_bundles(folder: str, names: list[str]) -> list[str]:
    """At the top of es5/, the other combined bundles (SVG output, ...): not needed."""
    if Path(folder).name != "es5":
        return []
    return [n for n in names if n.endswith(".js") and n != BUNDLE]


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """After a successful HTML build, copy MathJax into ``<outdir>/_static/mathjax``."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True, ignore=_other_bundles)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_path)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
