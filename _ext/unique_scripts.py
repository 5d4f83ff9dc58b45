"""Drop repeated ``<script>`` tags from the pages.

sphinx-thebe 0.3.1 adds its inline configuration (``const THEBE_JS_URL = ...``) twice
under Sphinx 7.4, and the second copy is a JavaScript error on every page ("Identifier
'THEBE_JS_URL' has already been declared"), which the browser test rightly reports.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _key(script) -> tuple:
    """What the page gets from a script: its file or body and attributes (the same
    script added twice at two priorities is still the same script)."""
    attributes = getattr(script, "attributes", {})
    filename = str(getattr(script, "filename", script) or "")  # None and "": inline
    return filename, tuple(sorted((k, str(v)) for k, v in attributes.items()))


def unique_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    """Keep the first of identical scripts (same file or body, same attributes)."""
    scripts = context.get("script_files")
    if scripts:
        seen: set[tuple] = set()
        scripts[:] = [s for s in scripts if not (_key(s) in seen or seen.add(_key(s)))]


def setup(app: Sphinx) -> dict:
    # Early: the event stops at the first handler that returns a template name.
    app.connect("html-page-context", unique_scripts, priority=100)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
