"""Shared fixtures and helpers: the repository root, a papermill runner for chapter
smoke runs, and a stand-in audio extractor with fake waves for the feature and batching
tests."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("agg")  # tests draw figures without a display

ROOT = Path(__file__).resolve().parents[1]

#: The smallest MLCL geometry the model tests build (config overrides for make_config).
SMALL_MODEL = {
    "text.hidden_size": 32,
    "text.intermediate_size": 64,
    "text.vocab_size": 400,
    "audio.hidden_size": 32,
    "audio.intermediate_size": 64,
    "audio.conv_dim": (16,) * 5,
    "proj_dim": 16,
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def run_chapter(tmp_path):
    """Execute ``book/<name>.ipynb`` with papermill and the given parameters; returns
    the executed notebook (nbformat node). Runs from the repository root, like the book
    build."""
    import nbformat
    import papermill as pm

    def _run(name: str, **params):
        out = tmp_path / f"{name}.out.ipynb"
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            pm.execute_notebook(
                str(ROOT / "book" / f"{name}.ipynb"),
                str(out),
                parameters=params,
                kernel_name="python3",
                progress_bar=False,
                cwd=str(ROOT / "book"),
            )
        finally:
            os.chdir(cwd)
        return nbformat.read(out, as_version=4)

    return _run


class FrameExtractor:
    """Stand-in audio encoder: one frame of C=3 statistics per 320 samples (20 ms)."""

    calls = 0

    def extract_features(self, wave, wave_mask):
        FrameExtractor.calls += 1
        b, s = wave.shape
        t = s // 320
        frames = wave[:, : t * 320].reshape(b, t, 320)
        feats = torch.stack(
            [frames.mean(-1), frames.std(-1), torch.full((b, t), float(s))], dim=-1
        )
        feat_mask = wave_mask[:, : t * 320].reshape(b, t, 320).all(-1)
        return feats, feat_mask


def fake_speech_table(corpus, languages) -> pd.DataFrame:
    """A speech table with a path ``<lang>/<id>`` per sentence and language."""
    rows = [
        {
            "id": str(sid),
            "split": "x",
            "lang": lang,
            "path": f"{lang}/{sid}",
            "seconds": 0.0,
        }
        for lang in languages
        for sid in corpus.table["id"]
    ]
    return pd.DataFrame(rows)


def fake_wave(path: str) -> np.ndarray:
    """A deterministic wave of 5..27 frames for a ``<lang>/<id>`` path."""
    lang, sid = path.split("/")
    n = 320 * (5 + (int(sid) * 7 + len(lang)) % 23)
    return np.sin(np.arange(n) * 0.01 * (1 + int(sid) % 5)).astype(np.float32)


def notebook_text(nb) -> str:
    """All text an executed chapter printed or displayed (the chapter smoke tests read
    their numbers and sentences from it)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(data.get("text/plain", "") + data.get("text/markdown", ""))
    return "\n".join(parts)


def uncached(cfg):
    """``cfg`` without the disk caches of features and frozen prefix states
    (``feature_cache_dir=None``: ``make_config`` reads a ``None`` override as "not
    set", so this takes the config itself)."""
    from dataclasses import replace

    return replace(cfg, speech=replace(cfg.speech, feature_cache_dir=None))


def tiny_bert(seed: int = 0, dropout: float | None = None, **geometry):
    """A randomly initialised ``BertModel`` without pooler, small enough for unit tests
    (vocabulary 50, width 16, one layer of two heads unless ``geometry`` says
    otherwise); ``dropout``: hidden and attention dropout (None: the library
    default)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    conf = {
        "vocab_size": 50,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 32,
    } | geometry
    if dropout is not None:
        conf |= {
            "hidden_dropout_prob": dropout,
            "attention_probs_dropout_prob": dropout,
        }
    return BertModel(BertConfig(**conf), add_pooling_layer=False)


#: The papermill parameters of the smallest MLCL chapter run (chapters 5 and 6 add
#: their own sizes): 16 sentences per split, one seed, epoch and trial, 2 s of speech.
SMOKE_MLCL = {
    "subset": 16,
    "seeds": [0],
    "num_epochs": 1,
    "max_evals": 1,
    "meta_steps": 1,
    "max_seconds": 2.0,
    "progress": False,
}
