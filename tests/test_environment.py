"""The pip pins (pyproject.toml) and the conda environment (environment.yml) must
agree."""

from __future__ import annotations

import re
import tomllib

import yaml


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;]+)\s*", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_matches_pyproject(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    pip_pins = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(
        d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d
    )
    conda_pins = _pins(pip_section)
    assert conda_pins == pip_pins
    assert "python=3.11" in env["dependencies"]


def test_every_dependency_is_pinned(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    unpinned = [d for d in deps if "==" not in d]
    assert not unpinned, f"unpinned dependencies: {unpinned}"
    # An unpinned torch pulls a multi-GB CUDA build; the CPU wheel on disk is 2.13.0.
    assert "torch==2.13.0" in deps
