"""``import mlcl_core`` stays light: no torch, no optional backends."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, mlcl_core, mlcl_core.config, mlcl_core.corpora; "
        "heavy = [m for m in ('torch', 'transformers', 'gtts', 'espeakng_loader') if "
        "m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
