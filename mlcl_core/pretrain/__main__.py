"""``python -m mlcl_core.pretrain [text|audio|all]``: build the tiny checkpoints.

Every setting is a flag (see ``--help``); the defaults are what ``make pretrain``
builds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlcl_core.pretrain import (
    AUDIO_CHECKPOINT,
    CHECKPOINT_DIR,
    DEFAULT_POOL,
    TEXT_CHECKPOINT,
)


def build_text(args: argparse.Namespace) -> None:
    """Pre-train the tiny mBERT and write it with its provenance."""
    from mlcl_core.pretrain.mlm import (
        DEFAULT_WEIGHTS,
        MLMSettings,
        pretrain_mlm,
        read_pool,
    )
    from mlcl_core.pretrain.provenance import git_commit, texts_digest, write_provenance

    settings = MLMSettings(
        vocab_size=args.vocab_size,
        uncased=args.uncased,
        steps=args.mlm_steps,
        batch_size=args.mlm_batch,
        lr=args.mlm_lr,
        max_len=args.mlm_max_len,
        max_per_language=args.max_per_language,
        weights=dict(DEFAULT_WEIGHTS),
    )
    texts, counts = read_pool(
        args.pool, settings.weights, max_per_language=args.max_per_language
    )
    out = Path(args.out) / TEXT_CHECKPOINT
    commit = git_commit(Path(__file__).parent)  # the code as it starts, not as it ends
    print(
        f"tiny-mbert: {len(texts)} sentences of {len(counts)} languages -> {out}",
        flush=True,
    )
    summary = pretrain_mlm(texts, settings, out)
    write_provenance(
        out,
        kind="masked-LM pre-training (tiny mBERT)",
        data={
            "pool": str(args.pool),
            "split": "train only",
            "sentences_per_language": counts,
            "sha256": texts_digest(texts),
        },
        settings=settings.to_dict(),
        result=summary,
        git_commit=commit,
    )
    print(
        f"tiny-mbert: done in {summary['seconds']} s, loss {summary['loss_curve'][-1]}",
        flush=True,
    )


def build_audio(args: argparse.Namespace) -> None:
    """Pre-train the tiny wav2vec2 phoneme recogniser; write it and its provenance."""
    from mlcl_core.pretrain.asr import ASRSettings, pretrain_asr, training_clips
    from mlcl_core.pretrain.provenance import git_commit, texts_digest, write_provenance

    settings = ASRSettings(
        languages=tuple(args.audio_languages),
        epochs=args.asr_epochs,
        max_per_language=args.asr_per_language,
    )
    commit = git_commit(Path(__file__).parent)  # the code as it starts, not as it ends
    clips = training_clips(settings)
    out = Path(args.out) / AUDIO_CHECKPOINT
    print(f"tiny-wav2vec2: {len(clips)} clips -> {out}", flush=True)
    summary = pretrain_asr(clips, settings, out)
    write_provenance(
        out,
        kind="frame-wise phoneme recognition (tiny wav2vec2-960h)",
        data={
            "corpus": "embedded SIB-200",
            "split": "train only",
            "languages": list(settings.languages),
            "clips": len(clips),
            "sha256": texts_digest(c.text for c in clips),
        },
        settings=settings.to_dict(),
        result=summary,
        git_commit=commit,
    )
    print(
        f"tiny-wav2vec2: done in {summary['seconds']} s, {summary['curve'][-1]}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m mlcl_core.pretrain", description=__doc__
    )
    p.add_argument("what", nargs="?", default="all", choices=("all", "text", "audio"))
    p.add_argument(
        "--out", default=str(CHECKPOINT_DIR), help="parent directory of the checkpoints"
    )
    p.add_argument("--pool", default=str(DEFAULT_POOL), help="the mBERT-like text pool")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--uncased", action="store_true", help="BERT's uncased normaliser")
    p.add_argument("--mlm-steps", type=int, default=1500)
    p.add_argument("--mlm-lr", type=float, default=1e-3)
    p.add_argument("--mlm-max-len", type=int, default=64)
    p.add_argument("--mlm-batch", type=int, default=16)
    p.add_argument("--asr-epochs", type=int, default=3)
    p.add_argument(
        "--asr-per-language",
        type=int,
        default=250,
        help="training sentences spoken per language for the audio encoder",
    )
    p.add_argument(
        "--audio-languages", nargs="+", default=["eng_Latn", "zho_Hans", "mya_Mymr"]
    )
    p.add_argument(
        "--max-per-language",
        type=int,
        default=None,
        help="text pool sentences per language (small runs and tests)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default; 1 is faster on a loaded machine)",
    )
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.what in ("all", "text"):
        build_text(args)
    if args.what in ("all", "audio"):
        build_audio(args)


if __name__ == "__main__":
    sys.exit(main())
