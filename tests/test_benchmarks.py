"""The training-speed benchmark (issue 8) runs end to end on the CPU: every row trains
on the same batches with losses that agree, and the ratios are printed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_mlcl_speed_benchmark_prints_agreeing_losses_and_its_ratios(capsys):
    sys.path.insert(0, str(BENCH))
    try:
        import mlcl_speed
    finally:
        sys.path.remove(str(BENCH))
    mlcl_speed.main(
        [
            "--rows",
            "before,project+allaudio,project",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--pgd-steps",
            "0",
        ]
    )
    out = capsys.readouterr().out
    diffs = re.findall(r"max \|(\S+) - before\| over these steps: (\S+)", out)
    assert [row for row, _ in diffs] == ["project+allaudio", "project"]
    assert all(float(d) < 1e-4 for _, d in diffs)
    assert "## At the profile's dropout (text 0.1, fusion 0.3" in out
    ratios = dict(re.findall(r"  (project / before[^:]*): (\S+)x", out))
    assert set(ratios) == {
        "project / before",
        "project / before at the profile's dropout",
    }
    assert all(float(r) > 0 for r in ratios.values())
    assert (
        out.rstrip()
        .splitlines()[-2]
        .startswith("  project / before at the profile's dropout")
    )
