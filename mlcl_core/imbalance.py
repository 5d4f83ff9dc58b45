"""The simulated imbalance of chapter 4b: the tiny profile started from the project's
tiny "mBERT" and "wav2vec2-960h" checkpoints (:mod:`mlcl_core.pretrain`).

* :func:`simulated_config`: a config whose encoders load those checkpoints;
* :func:`imbalance_rows`: the rows the chapter runs, as :class:`~mlcl_core.ablations.
  Ablation` (so :func:`~mlcl_core.ablations.run_ablations` stores and reloads them and
  :func:`~mlcl_core.ablations.difference_table` bootstraps their paired differences);
* :func:`pretraining_mix` and :func:`vocabulary_table`: what the text checkpoint saw
  of each language and how its vocabulary cuts each language;
* :func:`side_by_side`: the balanced and the simulated table in one frame;
* :func:`target_lines`: the issue's targets, each with its number and whether it is
  met.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlcl_core.ablations import Ablation
from mlcl_core.config import ExperimentConfig, LossConfig


def simulated_config(
    cfg: ExperimentConfig, text_path: str | None = None, audio_path: str | None = None
) -> ExperimentConfig:
    """``cfg`` with both encoders loaded from checkpoints (``None``: the shipped tiny
    ones, :func:`mlcl_core.pretrain.checkpoint_path`). Raises before any work when a
    checkpoint directory has no ``config.json``."""
    from mlcl_core.pretrain import AUDIO_CHECKPOINT, TEXT_CHECKPOINT, checkpoint_path

    paths = {
        "text": text_path or checkpoint_path(TEXT_CHECKPOINT),
        "audio": audio_path or checkpoint_path(AUDIO_CHECKPOINT),
    }
    for side, path in paths.items():
        if not (Path(path) / "config.json").is_file():
            raise FileNotFoundError(f"{side} checkpoint {path!r} has no config.json")
    return replace(
        cfg,
        text=replace(cfg.text, name_or_path=paths["text"], pretrained=True),
        audio=replace(cfg.audio, name_or_path=paths["audio"], pretrained=True),
    )


#: Row names of :func:`imbalance_rows` (the chapter's prose refers to them).
COMBINED, MLCL = "BERT-Combined", "MLCL"
VOCAB_ONLY = "BERT-Combined, vocabulary only"
RANDOM_AUDIO = "MLCL, random audio encoder"
NO_MCL, NO_LCL = "MLCL w/o MCL", "MLCL w/o LCL"


def imbalance_rows(
    sim: ExperimentConfig,
    loss: LossConfig,
    scratch_audio: ExperimentConfig,
    mechanisms: Sequence[str] = (),
) -> list[Ablation]:
    """BERT-Combined and MLCL (with ``loss``) in the simulated setting ``sim``, then
    the ``mechanisms`` asked for, each one change of it:

    * ``vocabulary``: Combined with the checkpoint's tokenizer but random weights (the
      vocabulary without the pre-training);
    * ``speech``: MLCL with ``scratch_audio``'s audio encoder (the profile's frozen
      random one) instead of the speech checkpoint;
    * ``losses``: MLCL without MCL (alpha = 0) and without LCL (beta = 0).
    """
    known = ("vocabulary", "speech", "losses")
    unknown = [m for m in mechanisms if m not in known]
    if unknown:
        raise ValueError(f"unknown mechanism(s) {unknown}; known: {', '.join(known)}")
    mlcl = replace(sim, loss=loss)
    rows = [Ablation(COMBINED, "combined", sim), Ablation(MLCL, "mlcl", mlcl)]
    if "vocabulary" in mechanisms:
        text = replace(sim.text, pretrained=False)
        rows.append(Ablation(VOCAB_ONLY, "combined", replace(sim, text=text)))
    if "speech" in mechanisms:
        rows.append(
            Ablation(RANDOM_AUDIO, "mlcl", replace(mlcl, audio=scratch_audio.audio))
        )
    if "losses" in mechanisms:
        rows += [
            Ablation(NO_MCL, "mlcl", replace(mlcl, loss=replace(loss, alpha=0.0))),
            Ablation(NO_LCL, "mlcl", replace(mlcl, loss=replace(loss, beta=0.0))),
        ]
    return rows


def pretraining_mix(text_path: str, languages: Sequence[str]) -> pd.DataFrame:
    """Per language of ``languages``: sentences in the text checkpoint's pre-training
    pool, their sampling weight and the share of the pool's (weighted) text, read from
    the ``provenance.json`` written beside the checkpoint."""
    prov_file = Path(text_path) / "provenance.json"
    if not prov_file.is_file():
        raise FileNotFoundError(f"{prov_file} not found: the checkpoint's provenance")
    prov = json.loads(prov_file.read_text(encoding="utf-8"))
    counts: dict[str, int] = prov["data"]["sentences_per_language"]
    weights: dict[str, float] = prov["settings"].get("weights") or {}
    total = sum(n * weights.get(lang, 1) for lang, n in counts.items())
    rows = []
    for lang in languages:
        n, w = counts.get(lang, 0), weights.get(lang, 1)
        rows.append({"lang": lang, "sentences": n, "weight": w, "share": n * w / total})
    table = pd.DataFrame(rows).set_index("lang")
    table.attrs["languages_in_pool"] = len(counts)
    return table


def vocabulary_table(
    tokenizers: Mapping[str, Any], texts_by_lang: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """Per language and tokenizer: the share of [UNK] tokens and the median number of
    tokens a sentence becomes (a vocabulary that lacks a script's pieces gives
    [UNK], one that has only short pieces gives many tokens)."""
    from mlcl_core.tokenstats import token_counts, unk_rates

    parts = {}
    for name, tok in tokenizers.items():
        counts = token_counts(tok, texts_by_lang)
        parts[name] = pd.DataFrame(
            {
                "[UNK]": unk_rates(tok, texts_by_lang)["unk"],
                "median tokens": {
                    k: float(pd.Series(v).median()) for k, v in counts.items()
                },
            }
        )
    return pd.concat(parts, axis=1)


def side_by_side(
    tables: Mapping[str, pd.DataFrame],
    languages: Sequence[str],
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Several Table 2 summaries (``tables.summarize`` layout, one per setting) as one
    frame: rows (setting, system), columns accuracy per language, G and M (seed
    means)."""
    cols = list(languages) + ["G", "M"]
    frames = {}
    for setting, summary in tables.items():
        missing = [c for c in cols if c not in summary.columns]
        if missing:
            raise ValueError(f"setting {setting!r} lacks columns {missing}")
        frame = summary[cols].copy()
        frame.index = [(names or {}).get(s, s) for s in frame.index]
        frames[setting] = frame
    return pd.concat(frames, names=["setting", "system"])


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def target_lines(
    simulated: pd.DataFrame,
    difference: Mapping[str, tuple[float, float, float]],
    retrieval_after: float,
    mcl_curve: Sequence[float],
    languages: Sequence[str],
    weakest: str,
    balanced: pd.DataFrame | None = None,
    mcl_level: float | None = None,
    mlcl_labels: float | None = None,
) -> list[str]:
    """The issue's targets, one Markdown line each with its numbers and verdict.

    ``mlcl_labels``: how many different labels MLCL's runs predicted on test (mean over
    seeds, :func:`mlcl_core.datalength.labels_predicted`); a run that predicts one
    label for everything has the same accuracy in every language and so G = 0 for a
    trivial reason, which never counts as lowering the imbalance.

    ``simulated``/``balanced`` are Table 2 summaries indexed by system (``combined``,
    ``mlcl``, ``tfidf-mlp``); ``difference`` is MLCL minus Combined (``{"G": (d, low,
    high), "M": ...}``, :func:`mlcl_core.paired.paired_difference`); ``weakest`` the
    language of ``languages`` that should be weakest (Tibetan); ``mcl_curve`` the MCL
    loss per epoch of the retrieval run and ``mcl_level`` its value when every
    candidate is equally similar: a curve that only falls to that level has learned to
    make text and speech equally (dis)similar, not to align them."""
    comb, mlcl = simulated.loc["combined"], simulated.loc["mlcl"]
    accs = comb[list(languages)].astype(float)
    g_ok = comb["G"] >= 0.10
    runner_up = accs.drop(accs.idxmin()).min()
    # clearly: weakest, and its 95 % interval's top below the next language's mean
    weak_ok = accs.idxmin() == weakest and comb[f"{weakest}_high"] < runner_up
    lines = [
        f"- BERT-Combined's G >= 0.10 in the simulated setting: G {comb['G']:.3f} "
        f"{_verdict(bool(g_ok))}; {weakest} clearly the weakest language (its 95 % "
        f"interval below the next language): weakest is {accs.idxmin()} "
        f"({accs.min():.3f} [{comb[f'{accs.idxmin()}_low']:.3f}, "
        f"{comb[f'{accs.idxmin()}_high']:.3f}]; next {runner_up:.3f}) "
        f"{_verdict(bool(weak_ok))}.",
    ]
    d_g, lo_g, hi_g = difference["G"]
    d_m, lo_m, hi_m = difference["M"]
    rel = -d_g / comb["G"] if comb["G"] > 0 else float("nan")
    constant = mlcl_labels is not None and mlcl_labels < 1.5
    lower = bool(rel >= 0.25 and hi_g < 0)
    why = (
        f" MLCL predicts {mlcl_labels:.1f} label(s) on average: a constant "
        "classifier, whose G is near 0 because it is equally poor in every language."
        if constant
        else ""
    )
    lines.append(
        f"- MLCL lowers G by >= 25 % relative to Combined, outside the 95 % paired "
        f"interval, with M not lower: G {comb['G']:.3f} -> {mlcl['G']:.3f} "
        f"({rel:+.0%}; difference {d_g:+.3f} [{lo_g:+.3f}, {hi_g:+.3f}]), M "
        f"{comb['M']:.3f} -> {mlcl['M']:.3f} (difference {d_m:+.3f} [{lo_m:+.3f}, "
        f"{hi_m:+.3f}]) {_verdict(lower and d_m >= 0 and not constant)}.{why}"
    )
    falls = len(mcl_curve) >= 2 and mcl_curve[-1] < mcl_curve[0]
    below = ""
    if mcl_level is not None:
        falls = falls and mcl_curve[-1] < mcl_level - 0.05
        below = f" clearly below the equal-similarity level {mcl_level:.2f}"
    curve = " -> ".join(f"{v:.2f}" for v in mcl_curve)
    lines.append(
        f"- Text <-> speech retrieval (chapter 3's training, test) >= 0.30 top-1: "
        f"{retrieval_after:.3f} {_verdict(retrieval_after >= 0.30)}; an MCL curve that "
        f"falls{below} ({curve}) {_verdict(bool(falls))}."
    )
    if balanced is not None and {"mlcl", "tfidf-mlp"} <= set(balanced.index):
        b_m, t = balanced.loc["mlcl"], balanced.loc["tfidf-mlp"]
        ok = b_m["M"] >= t["M"] and b_m["G"] <= t["G"]
        lines.append(
            f"- Stretch, balanced setting: MLCL (M {b_m['M']:.3f}, G {b_m['G']:.3f}) "
            f"reaches our TF-IDF n-gram MLP (M {t['M']:.3f}, G {t['G']:.3f}) "
            f"{_verdict(bool(ok))}."
        )
    return lines


def stored_retrieval(
    cfg: ExperimentConfig, split: str, results_dir: str | Path, experiment: str
) -> dict[str, Any]:
    """:func:`mlcl_core.pretrain.evaluate.speech_retrieval` of ``cfg`` on ``split``,
    stored as one JSON file under ``<results_dir>/<experiment>/`` and reloaded while
    today's library code and corpus made it (as a stored run is)."""
    from mlcl_core.corpora import load_from_config
    from mlcl_core.pretrain.evaluate import speech_retrieval
    from mlcl_core.provenance import provenance_of
    from mlcl_core.results import reusable, run_id, run_path, write_json_atomic

    rid = run_id(f"retrieval-{split}", cfg, cfg.train.seed)
    prov = provenance_of(load_from_config(cfg.data))
    path = run_path(results_dir, experiment, rid)
    stored = reusable(path, prov, f"{experiment}/{rid}")
    if stored is not None:
        return stored
    record = {"run_id": rid, "provenance": prov, **speech_retrieval(cfg, split)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return json.loads(path.read_text(encoding="utf-8"))


def _row(summary: pd.DataFrame, name: str) -> str:
    r = summary.loc[name]
    return f"G {r['G']:.3f}, M {r['M']:.3f}"


def mechanism_lines(
    balanced: pd.DataFrame,
    rows: pd.DataFrame,
    vocab: pd.DataFrame,
    mix: pd.DataFrame,
    weakest: str,
) -> list[str]:
    """Markdown lines: what the pre-training mix, the vocabulary, the pre-trained
    weights, the speech encoder and each loss contribute, from the numbers at hand.

    ``balanced`` is the balanced Table 2 summary (by system), ``rows`` the simulated
    one by row name (:func:`imbalance_rows` names), ``vocab`` :func:`vocabulary_table`
    (corpus tokenizer first, checkpoint second) and ``mix`` :func:`pretraining_mix`."""
    corpus_tok, ckpt_tok = list(dict.fromkeys(vocab.columns.get_level_values(0)))
    share = ", ".join(f"{lang} {s:.1%}" for lang, s in mix["share"].items())
    unk = vocab[(ckpt_tok, "[UNK]")]
    med_c, med_k = (
        vocab[(corpus_tok, "median tokens")],
        vocab[(ckpt_tok, "median tokens")],
    )
    lines = [
        f"- **Pre-training mix**: share of the checkpoint's pre-training text: "
        f"{share}.",
        f"- **Vocabulary**: with the checkpoint's WordPiece, {unk[weakest]:.1%} of "
        f"{weakest}'s tokens are [UNK] (chapter 4's: "
        f"{vocab[(corpus_tok, '[UNK]')][weakest]:.1%}); median tokens per sentence "
        + ", ".join(
            f"{lang} {med_c[lang]:.0f} -> {med_k[lang]:.0f}" for lang in unk.index
        )
        + ".",
    ]
    comb_b, comb_s = _row(balanced, "combined"), _row(rows, COMBINED)
    if VOCAB_ONLY in rows.index:
        lines.append(
            f"- **Vocabulary vs weights** (BERT-Combined): chapter 4's vocabulary, "
            f"random weights {comb_b}; the checkpoint's vocabulary, random weights "
            f"{_row(rows, VOCAB_ONLY)}; vocabulary and pre-trained weights {comb_s}. "
            "Per language, what the pre-trained weights add to the vocabulary alone: "
            + ", ".join(
                f"{lang} {rows.loc[COMBINED, lang] - rows.loc[VOCAB_ONLY, lang]:+.3f}"
                for lang in unk.index
            )
            + "."
        )
    else:
        lines.append(
            f"- **Vocabulary and weights together** (BERT-Combined): from scratch "
            f"{comb_b}, from the checkpoint {comb_s} (run with `mechanisms` "
            f"['vocabulary'] to separate them)."
        )
    for name, what in (
        (RANDOM_AUDIO, "**Speech encoder**: MLCL with the frozen random audio encoder"),
        (NO_MCL, "**MCL**: MLCL without it"),
        (NO_LCL, "**LCL**: MLCL without it"),
    ):
        if name in rows.index:
            lines.append(f"- {what}: {_row(rows, name)} (MLCL: {_row(rows, MLCL)}).")
    return lines


def simulation_differences(
    text_path: str, audio_path: str, paper: ExperimentConfig
) -> str:
    """One paragraph: how the tiny checkpoints differ from mBERT and wav2vec2-base-960h
    (``paper``: the paper profile's config), with the checkpoints' own numbers read
    from their ``provenance.json``."""
    text = json.loads((Path(text_path) / "provenance.json").read_text("utf-8"))
    audio = json.loads((Path(audio_path) / "provenance.json").read_text("utf-8"))
    ts, tr = text["settings"], text["result"]
    au, ar = audio["settings"], audio["result"]
    curve = [p["loss"] for p in tr.get("loss_curve") or [{"loss": float("nan")}]]
    first, final = curve[0], curve[-1]
    frame_acc = ar["curve"][-1]["held_out_frame_accuracy"] if ar.get("curve") else 0
    return (
        f'The tiny "mBERT" read {tr["sentences"]:,} sentences of '
        f"{len(text['data']['sentences_per_language'])} languages (SIB-200's training "
        f"splits, one topic-labelled domain) for {tr['steps']} steps of "
        f"{ts['batch_size']} sentences, with a {tr['vocab_size']}-piece vocabulary, "
        f"{ts['text']['num_layers']} layers of width {ts['text']['hidden_size']}; its "
        f"masked-LM loss went from {first:.2f} to {final:.2f}. mBERT read Wikipedia "
        f"in 104 languages (billions of tokens) with a {paper.text.vocab_size}-piece "
        f"vocabulary, {paper.text.num_layers} layers of width "
        f"{paper.text.hidden_size}. Its Chinese and Burmese were other text than the "
        f"task's, while our pool's Chinese and Burmese are the task's own training "
        f"sentences (never a dev or test one): the checkpoint has seen the training "
        f'texts, mBERT had not. The tiny "wav2vec2" learned frame-wise phoneme labels '
        f"of {ar['train_clips']} synthesised clips in {len(au['languages'])} languages "
        f"({', '.join(au['languages'])}) for {au['epochs']} epochs (held-out frame "
        f"accuracy {frame_acc:.2f}); wav2vec2-base-960h was pre-trained on 960 hours "
        f"of human English speech (LibriSpeech) and fine-tuned on its transcripts. "
        f"Both simulations keep the *shape* of the paper's setting (Chinese-heavy text "
        f"pre-training, no Tibetan text, speech pre-training that never heard Tibetan "
        f"though Tibetan is spoken here with Mandarin phonemes), not its scale: read "
        f"the numbers as a mechanism shown on a small model, not as an estimate of the "
        f"paper's effect."
    )


def retrieval_summary(runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per stored retrieval run (:func:`stored_retrieval`): mean top-1 before
    and after training, chance, and the MCL loss of the first and last epoch."""
    rows = {}
    for name, run in runs.items():
        mcl = [h["train_mcl"] for h in run["history"]]
        rows[name] = {
            "top-1 before": run["mean_before"],
            "top-1 after": run["mean_after"],
            "chance": run["chance"],
            "MCL first epoch": mcl[0],
            "MCL last epoch": mcl[-1],
        }
    return pd.DataFrame(rows).T
