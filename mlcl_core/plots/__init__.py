"""Figures of the book, one submodule per chapter topic (``data``, ``adapters``,
``embeddings``, ``training``, ``widgets``). Each ``save_figure`` writes
``figures/<chapter>-<what>.png``. Importing the package applies the book's theme
(:mod:`mlcl_core.plots.style`), so every chapter's figures look alike."""

from __future__ import annotations

from pathlib import Path

from mlcl_core.plots.style import set_theme

FIGURES_DIR = Path(__file__).resolve().parents[2] / "figures"
set_theme()


def save_figure(
    fig, chapter: str, what: str, figures_dir: str | Path | None = None
) -> Path:
    """Save ``fig`` as ``<figures_dir>/<chapter>-<what>.png`` and return the path."""
    out = Path(figures_dir) if figures_dir is not None else FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{chapter}-{what}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path
