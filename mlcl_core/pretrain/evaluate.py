"""What the tiny checkpoints change: text <-> speech retrieval, simulated imbalance.

* :func:`speech_retrieval`: chapter 3's setting (short contrastive training of MLCL),
  then, per language, does a test sentence's text find its own speech among all test
  clips (and back)?
* :func:`imbalance_table`: the library's ``run_table`` with the checkpoints as the
  encoders; :func:`paired_difference` bootstraps MLCL's G and M difference from
  BERT-Combined on the same test sentences.

``python -m mlcl_core.pretrain.evaluate retrieval|imbalance`` prints both as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcl_core.config import ExperimentConfig, make_config
from mlcl_core.paired import correct_counts, paired_bootstrap

#: Chapter 3's training demo (its parameters cell).
CHAPTER3 = {
    "num_epochs": 8,
    "batch_size": 16,
    "tau": 0.1,
    "alpha": 0.3,
    "beta": 0.5,
    "max_seconds": 4.0,
    "lr": 0.003,
    "seed": 0,
    "adapter_kind": "none",
    "pooling": "mean",
}


def text_speech_retrieval(emb: dict[str, Any]) -> pd.DataFrame:
    """Per language, top-1 retrieval text -> speech and speech -> text of the same
    sentence.

    ``emb`` is :func:`mlcl_core.plots.embeddings.collect_embeddings`'s output; chance is
    1/N.
    """
    from mlcl_core.plots.embeddings import retrieval_accuracy

    rows = []
    for x, lang in enumerate(emb["langs"]):
        pair = np.stack([emb["text_emb"][x], emb["speech_emb"][x]])  # (2, N, P)
        table = retrieval_accuracy(pair, ("text", "speech")).set_index(["src", "tgt"])[
            "accuracy"
        ]
        rows.append(
            {
                "lang": lang,
                "text_to_speech": table[("text", "speech")],
                "speech_to_text": table[("speech", "text")],
            }
        )
    return pd.DataFrame(rows)


def speech_retrieval(cfg: ExperimentConfig, split: str = "test") -> dict[str, Any]:
    """Train MLCL as chapter 3 does; measure text <-> speech retrieval on ``split``
    (``dev`` for any choice, ``test`` to report), before and after; returns the
    per-language tables, their means and the training history."""
    if split not in ("dev", "test"):
        raise ValueError(f"split must be dev or test, got {split!r}")
    from mlcl_core.batching import make_loaders
    from mlcl_core.corpora import load_from_config
    from mlcl_core.features import corpus_features
    from mlcl_core.model import build_mlcl
    from mlcl_core.plots.embeddings import collect_embeddings
    from mlcl_core.speech.corpus import corpus_audio
    from mlcl_core.training import Trainer

    corpus = load_from_config(cfg.data)
    speech_table = corpus_audio(corpus, cfg.speech, progress=False)
    model = build_mlcl(cfg, corpus)
    feats = corpus_features(cfg, corpus, speech_table, model.audio_encoder)
    loaders = make_loaders(cfg, corpus, model.tokenizer, feats)
    train, test = loaders["train"], loaders[split]  # dev/test in corpus order
    before = text_speech_retrieval(collect_embeddings(model, test))
    model.prepare(train)
    fit = Trainer(model, cfg.train, progress=False).fit(train)
    after = text_speech_retrieval(collect_embeddings(model, test))
    mean = lambda t: float(t[["text_to_speech", "speech_to_text"]].to_numpy().mean())  # noqa: E731
    return {
        "before": before.to_dict("records"),
        "after": after.to_dict("records"),
        "mean_before": mean(before),
        "mean_after": mean(after),
        "chance": 1 / len(test.dataset),
        "history": fit.history,
    }


def similarity_stats(pooled: np.ndarray) -> dict[str, float]:
    """For (N, D) sentence vectors: the mean cosine similarity between different
    sentences, as they are and centred (their mean removed), and the share of their
    energy in that mean (1: every sentence the same vector)."""
    if len(pooled) < 2:
        raise ValueError("similarity_stats needs at least two vectors")

    def mean_cos(x: np.ndarray) -> float:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        sims = x @ x.T
        return float(sims[~np.eye(len(x), dtype=bool)].mean())

    mean = pooled.mean(0)
    return {
        "cosine": mean_cos(pooled),
        "cosine_centred": mean_cos(pooled - mean),
        "common_share": float(mean @ mean / np.mean((pooled**2).sum(1))),
    }


def pooled_speech_similarity(cfg: ExperimentConfig, split: str = "dev") -> pd.DataFrame:
    """Per language, :func:`similarity_stats` of the audio encoder's pooled vectors
    (what the speech head reads) over ``split``'s clips, before any training. Near 1
    raw and a large common share: MCL's speech side hardly tells sentences apart."""
    import torch

    from mlcl_core.batching import make_loaders
    from mlcl_core.corpora import load_from_config
    from mlcl_core.features import corpus_features
    from mlcl_core.model import build_mlcl
    from mlcl_core.speech.corpus import corpus_audio

    corpus = load_from_config(cfg.data)
    speech_table = corpus_audio(corpus, cfg.speech, progress=False)
    model = build_mlcl(cfg, corpus).eval()
    feats = corpus_features(cfg, corpus, speech_table, model.audio_encoder)
    loader = make_loaders(cfg, corpus, model.tokenizer, feats)[split]
    blocks, langs = [], list(cfg.data.languages)
    with torch.no_grad():
        for batch in loader:
            k = batch["audio_feats"].shape[0]
            _, pooled, _ = model._audio(
                batch["audio_feats"], batch["audio_mask"], list(batch["langs"])
            )
            blocks.append(pooled.view(k, -1, pooled.shape[-1]))
            langs = list(batch["langs"])
    pooled_all = torch.cat(blocks, 1).float().numpy()  # (K, N, D)
    rows = [
        {"lang": lang, **similarity_stats(pooled_all[x])}
        for x, lang in enumerate(langs)
    ]
    return pd.DataFrame(rows).set_index("lang")


def paired_difference(
    preds_a: pd.DataFrame, preds_b: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """G and M of system b minus system a, with 95 % paired bootstrap intervals.

    ``preds_*`` have columns ``id``, ``lang``, ``y``, ``y_hat`` (all seeds pooled); each
    draw resamples test sentence ids, the same for both systems and every language
    (:func:`mlcl_core.paired.paired_bootstrap`, the pooled predictions as one run).
    """
    ids = list(dict.fromkeys(preds_a["id"].astype(str)))
    languages = list(dict.fromkeys(preds_a["lang"].astype(str)))
    a, b = (
        correct_counts([{"predictions": p.to_dict("records")}], ids, languages)
        for p in (preds_a, preds_b)
    )
    return {
        k: {"difference": d, "low": low, "high": high}
        for k, (d, low, high) in paired_bootstrap(a, b, n_boot, seed).items()
    }


def imbalance_table(
    cfg: ExperimentConfig,
    systems: Sequence[str],
    seeds: Sequence[int],
    results_dir: str,
    experiment: str,
) -> dict[str, Any]:
    """``run_table`` of ``systems`` x ``seeds`` under ``cfg``.

    Returns accuracy per language, G and M (seed means) and, with both ``combined`` and
    ``mlcl``, the paired difference of their G and M."""
    from mlcl_core.results import load_predictions
    from mlcl_core.systems import run_table

    summary = run_table(cfg, systems, seeds, results_dir, experiment, progress=False)
    cols = list(cfg.data.languages) + ["G", "G_low", "G_high", "M", "M_low", "M_high"]
    result: dict[str, Any] = {"summary": summary[cols].round(4).to_dict("index")}
    if {"combined", "mlcl"} <= set(systems):
        preds = load_predictions(
            results_dir, experiment, run_ids=summary.attrs["run_ids"]
        )
        result["mlcl_minus_combined"] = paired_difference(
            preds[preds["system"] == "combined"], preds[preds["system"] == "mlcl"]
        )
    return result


def main(argv: list[str] | None = None) -> None:
    from mlcl_core.pretrain import AUDIO_CHECKPOINT, TEXT_CHECKPOINT, checkpoint_path

    p = argparse.ArgumentParser(
        prog="python -m mlcl_core.pretrain.evaluate", description=__doc__
    )
    p.add_argument("what", choices=("retrieval", "imbalance"))
    p.add_argument("--text", choices=("pretrained", "scratch"), default="pretrained")
    p.add_argument("--audio", choices=("pretrained", "scratch"), default="pretrained")
    p.add_argument("--systems", nargs="+", default=["combined", "mlcl"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--num-epochs", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=4.0)
    p.add_argument("--results-dir", default="results")
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default)"
    )
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    over: dict[str, Any] = {}
    for side, name in (("text", TEXT_CHECKPOINT), ("audio", AUDIO_CHECKPOINT)):
        if getattr(args, side) == "pretrained":
            over.update(
                {
                    f"{side}.name_or_path": checkpoint_path(name),
                    f"{side}.pretrained": True,
                }
            )
    start = time.perf_counter()
    if args.what == "retrieval":
        out = speech_retrieval(
            make_config("tiny", **{**CHAPTER3, "max_seconds": args.max_seconds}, **over)
        )
    else:
        cfg = make_config("tiny", num_epochs=args.num_epochs, **over)
        out = imbalance_table(
            cfg,
            args.systems,
            args.seeds,
            args.results_dir,
            f"imbalance-{args.text}-text-{args.audio}-audio",
        )
    out["settings"] = vars(args)
    out["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
