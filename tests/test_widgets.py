"""Explorer widgets without a browser: build one, move a control, check that its view
follows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from IPython.display import HTML, Image

from mlcl_core.display import BOOK_BUILD_ENV
from mlcl_core.losses import anchor_gradients
from mlcl_core.plots import explore_results as rx
from mlcl_core.plots import widgets as w
from mlcl_core.speech.cache import write_wave

LANGS = ["zho_Hans", "bod_Tibt"]


@pytest.fixture
def corpus_and_audio(tmp_path):
    """Two sentences in two languages, each with a short sine clip of its own length."""
    table = pd.DataFrame(
        {
            "id": ["s1", "s2"],
            "zho_Hans": ["第一句", "第二句"],
            "bod_Tibt": ["ཀ་ཁ།", "ག་ང།"],
        }
    )
    rows = []
    for k, sid in enumerate(table["id"]):
        for lang in LANGS:
            seconds = 0.2 * (k + 1)
            path = tmp_path / f"{sid}-{lang}.wav"
            write_wave(path, 0.1 * np.sin(np.arange(int(16000 * seconds)) / 5))
            rows.append(
                {"id": sid, "lang": lang, "path": str(path), "seconds": seconds}
            )
    return table, pd.DataFrame(rows)


def test_sentence_player_follows_the_picker(corpus_and_audio):
    table, audio = corpus_and_audio
    box = w.sentence_player(table, audio, LANGS)
    picker, out = box.children
    assert picker.value == "s1"  # shortest speech first
    assert "第一句" in out.value and out.value.count("<audio") == 2
    picker.value = "s2"
    assert "第二句" in out.value and "ག་ང།" in out.value and "第一句" not in out.value


def test_sentence_player_rejects_a_language_without_text(corpus_and_audio):
    table, audio = corpus_and_audio
    with pytest.raises(ValueError, match="mya_Mymr"):
        w.sentence_player(table, audio, ["zho_Hans", "mya_Mymr"])


def test_sentence_player_starts_at_the_chosen_sentence(corpus_and_audio):
    table, audio = corpus_and_audio
    picker, out = w.sentence_player(
        table, audio, LANGS, max_options=1, first="s2"
    ).children
    assert picker.value == "s2" and [v for _, v in picker.options] == ["s2", "s1"]
    assert "第二句" in out.value and "第一句" not in out.value
    with pytest.raises(ValueError, match="s9"):
        w.sentence_player(table, audio, LANGS, first="s9")


def test_attention_explorer_follows_layer_and_language():
    attention = {
        "zho_Hans": [[0.5, 0.5], [0.9, 0.1]],
        "bod_Tibt": [[0.5, 0.5], [0.2, 0.8]],
    }
    box = w.attention_explorer(attention, LANGS)
    (slider, picker), image = box.children[0].children, box.children[1]
    assert (slider.value, slider.max, picker.value) == (2, 2, "bod_Tibt")
    top = image.value
    slider.value = 1
    assert image.value != top
    slider.value = 2
    assert image.value == top  # the view is a function of the controls only
    picker.value = "zho_Hans"
    assert image.value != top
    with pytest.raises(ValueError, match="layer"):
        w.attention_explorer(attention, LANGS, layer=3)
    with pytest.raises(ValueError, match="mya_Mymr"):
        w.attention_explorer(attention, ["zho_Hans", "mya_Mymr"])


def _store(tmp_path):
    """Two systems as JSON records in the results store's layout: MLCL with two seeds
    and a search trial beside seed 0's table run."""
    folder = tmp_path / "exp"
    folder.mkdir()
    y = [0, 1, 2, 0, 1, 2]
    runs = [
        ("mlcl", 0, "mlcl-s0", [0, 1, 2, 0, 1, 1]),
        ("mlcl", 0, "mlcl-s0-trial", [1, 1, 1, 1, 1, 1]),
        ("mlcl", 1, "mlcl-s1", [0, 0, 0, 0, 0, 0]),
        ("combined", 0, "combined-s0", [2, 1, 0, 0, 1, 2]),
    ]
    for system, seed, rid, y_hat in runs:
        preds = [
            {"id": f"s{i}", "lang": LANGS[i % 2], "y": y[i], "y_hat": y_hat[i]}
            for i in range(6)
        ]
        record = {"run_id": rid, "system": system, "seed": seed, "predictions": preds}
        (folder / f"{rid}.json").write_text(json.dumps(record))


def _controls(box):
    return box.children[0].children, box.children[1].children


def test_results_explorer_shows_the_chosen_run(tmp_path):
    _store(tmp_path)
    table_runs = ["mlcl-s0", "mlcl-s1", "combined-s0"]
    box = rx.results_explorer(
        tmp_path, "exp", labels=["a", "b", "c"], run_ids=table_runs
    )
    (system, seed, lang), (text, image) = _controls(box)
    assert (system.value, seed.value, lang.value) == ("mlcl", "mlcl-s0", "zho_Hans")
    assert [label for label, _ in seed.options] == ["0", "1"]
    # mlcl seed 0: zho rows 0, 2, 4 all right; bod rows 1, 3, 5: 1 of 3 wrong
    assert "Chinese</b> 1.000" in text.value and "Tibetan</b> 0.667" in text.value
    first = image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    seed.value = "mlcl-s1"  # predicts class 0 everywhere: zho has y = 0, 2, 1 -> 1/3
    assert "seed 1" in text.value and "Chinese</b> 0.333" in text.value
    assert image.value != first
    zho = image.value
    lang.value = "bod_Tibt"
    assert image.value != zho  # the other language's confusion matrix
    system.value = "combined"
    assert seed.options == (("0", "combined-s0"),)
    assert "BERT-Combined, seed 0" in text.value


def test_results_explorer_tells_runs_of_one_seed_apart(tmp_path):
    _store(tmp_path)
    (system, seed, lang), (text, _) = _controls(rx.results_explorer(tmp_path, "exp"))
    labels = [label for label, _ in seed.options]
    assert labels == ["0 (mlcl-s0)", "0 (mlcl-s0-trial)", "1"]
    seed.value = "mlcl-s0-trial"  # predicts 1 everywhere: zho y = 0, 2, 1 -> 1/3
    assert "seed 0 (mlcl-s0-trial)" in text.value and "Chinese</b> 0.333" in text.value


def test_results_explorer_needs_stored_runs(tmp_path):
    with pytest.raises(ValueError, match="no stored runs"):
        rx.results_explorer(tmp_path, "missing")


def test_tau_explorer_reports_the_slider_value():
    box = w.tau_explorer(0.8, [0.75, 0.3, 0.0, -0.4], tau=0.1)
    slider, (text, image) = box.children[0], box.children[1].children
    before = image.value
    slider.value = 1.0
    loss, _, grads = anchor_gradients(
        0.8, torch.tensor([0.75, 0.3, 0.0, -0.4], dtype=torch.float64), 1.0
    )
    assert f"loss {loss.item():.4f}" in text.value
    assert f"hardest negative {(grads[0] / grads.sum()).item():.3f}" in text.value
    assert image.value != before


@pytest.mark.parametrize(
    "kwargs", [{"neg_sims": []}, {"pos_sim": 1.5}, {"tau": 0.0}, {"tau": 5.0}]
)
def test_tau_explorer_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        w.tau_explorer(**kwargs)


def test_show_gives_the_static_view_in_the_book_build(monkeypatch):
    box = w.tau_explorer()
    views = w.static_views(box)
    assert [type(v) for v in views] == [HTML, Image]
    shown = []
    monkeypatch.setattr(w, "display", lambda *objs: shown.append(objs))
    monkeypatch.setenv(BOOK_BUILD_ENV, "1")
    w.show(box)
    monkeypatch.setenv(BOOK_BUILD_ENV, "0")
    w.show(box)
    assert [type(o) for o in shown[0]] == [HTML, Image] and shown[1] == (box,)
