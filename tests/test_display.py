"""Progress bars that stay out of the rendered book; tables that keep their row
labels."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mlcl_core import display as d


@pytest.mark.parametrize(
    "value, building",
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("1", True),
        ("yes", True),
    ],
)
def test_book_build_flag(monkeypatch, value, building):
    if value is None:
        monkeypatch.delenv(d.BOOK_BUILD_ENV, raising=False)
    else:
        monkeypatch.setenv(d.BOOK_BUILD_ENV, value)
    assert d.in_book_build() is building
    assert d.show_progress(True) is not building  # interactive and papermill: a bar
    assert d.show_progress(False) is False  # a chapter that asks for quiet stays quiet


def test_progress_bar_is_disabled_in_the_book_build(monkeypatch):
    monkeypatch.setenv(d.BOOK_BUILD_ENV, "1")
    assert d.progress_bar(range(3)).disable
    monkeypatch.setenv(d.BOOK_BUILD_ENV, "0")
    bar = d.progress_bar(range(3), desc="x")
    assert not bar.disable and list(bar) == [0, 1, 2]


def test_trainer_follows_the_flag(monkeypatch):
    from mlcl_core.config import make_config
    from mlcl_core.training import Trainer

    model = torch.nn.Linear(2, 2)
    cfg = make_config("tiny").train
    monkeypatch.setenv(d.BOOK_BUILD_ENV, "1")
    assert Trainer(model, cfg, progress=True).progress is False
    monkeypatch.delenv(d.BOOK_BUILD_ENV)
    assert Trainer(model, cfg, progress=True).progress is True


def test_table_html_keeps_labels_and_stacks_intervals():
    table = pd.DataFrame(
        {"Chinese": ["61.0 ± 1.0 [58.0, 64.0]"], "G": ["0.1 [0.0, 0.2]"]},
        index=pd.Index(["MLCL"], name="system"),
    )
    out = d.table_html(table)
    assert "<th>system</th>" in out and "<th>MLCL</th>" in out
    assert "61.0 ± 1.0<br>[58.0, 64.0]" in out and "width:100%" in out
    with pytest.raises(ValueError, match="0..n-1"):
        d.table_html(table.reset_index())
    with pytest.raises(TypeError):
        d.table_html("not a table")


def test_labelled_sets_row_labels():
    table = pd.DataFrame({"source": ["paper"], "system": ["MLCL"], "M": [0.5]})
    assert d.labelled(table, "source", "system").index.names == ["source", "system"]
    with pytest.raises(ValueError, match="missing"):
        d.labelled(table, "nope")
