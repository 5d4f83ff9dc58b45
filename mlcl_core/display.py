"""How the chapters show things: progress bars, tables, and the rendered book's quiet
mode.

The same chapter runs in three places: JupyterLab (a reader exploring), papermill (a
batch rerun) and the book build (jupyter-book executing it for the rendered pages).
Progress bars help in the first two and are noise in the third, and widgets need a live
kernel, so the book build sets ``MLCL_BOOK_BUILD=1`` (``_ext/quiet_progress.py``,
inherited by the kernels it starts) and the helpers here read it.
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

BOOK_BUILD_ENV = "MLCL_BOOK_BUILD"
_FALSE = {"", "0", "false", "no", "off"}


def in_book_build() -> bool:
    """True while jupyter-book executes a chapter for the rendered pages."""
    return os.environ.get(BOOK_BUILD_ENV, "").strip().lower() not in _FALSE


def show_progress(requested: bool = True) -> bool:
    """Whether long work draws a progress bar: when ``requested``, except in the book
    build."""
    return bool(requested) and not in_book_build()


def progress_bar(
    iterable: Iterable | None = None, *, requested: bool = True, **kwargs: Any
):
    """A tqdm bar (widget in Jupyter, text elsewhere), disabled where
    :func:`show_progress` says no; ``kwargs`` go to tqdm (``total``, ``desc``, ``unit``,
    ...)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not show_progress(requested), **kwargs)


def table_html(
    table: pd.DataFrame,
    index_name: str | None = None,
    font_size: str = "0.8em",
    break_before: str | None = " [",
) -> str:
    """A table as compact HTML that fits the page: row labels kept (named
    ``index_name``), cells allowed to wrap, and each cell broken before ``break_before``
    (so "mean ± std" and its "[low, high]" interval stack instead of widening the
    column)."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if isinstance(table.index, pd.RangeIndex):
        raise ValueError(
            "table has only a 0..n-1 index: set meaningful row labels first"
        )

    def cell(value: Any) -> str:
        text = html.escape(str(value))
        if break_before:
            text = text.replace(
                html.escape(break_before), "<br>" + html.escape(break_before.lstrip())
            )
        return text

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        f"<tr><th>{html.escape(str(i))}</th>"
        + "".join(f"<td>{cell(v)}</td>" for v in row)
        + "</tr>"
        for i, row in zip(table.index, table.itertuples(index=False), strict=True)
    )
    name = html.escape(
        index_name if index_name is not None else str(table.index.name or "")
    )
    style = (
        f"font-size:{font_size};width:100%;table-layout:auto;"
        "white-space:normal;border-collapse:collapse"
    )
    return (
        f"<table class='mlcl-table' style='{style}'>"
        f"<thead><tr><th>{name}</th>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def labelled(table: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``table`` with ``columns`` as its row labels, instead of pandas' 0..n-1 index."""
    missing = [c for c in columns if c not in table.columns]
    if not columns or missing:
        raise ValueError(
            f"name existing columns to label rows with; missing {missing}, "
            f"have {list(table.columns)}"
        )
    return table.set_index(list(columns))


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep Hugging Face's per-load progress bar and load report out of the pages while
    a checkpoint loads (the report lists, e.g., the masked-LM head a tiny "mBERT"
    checkpoint has and a bare encoder does not use: expected, and said in the
    chapters); errors still show."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
