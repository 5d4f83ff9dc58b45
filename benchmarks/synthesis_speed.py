"""Benchmark of speech synthesis: seconds of speech made per second of wall time (x real
time) on the embedded SIB-200, into a fresh temporary cache, and the ratio to the design
target of 200x (formerly wall-clock assertions in tests/test_speech_corpus.py and
tests/test_chapter_01.py).

    python benchmarks/synthesis_speed.py [--n 60] [--workers 1 2] [--backend espeak]

Prints one line per worker count. Nothing is asserted: run it on an idle machine.
"""

from __future__ import annotations

import argparse

from mlcl_core.corpora import load_sib200
from mlcl_core.speech.corpus import synthesis_speed

TARGET_X_REALTIME = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="sentences per language")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", default="espeak")
    parser.add_argument(
        "--languages", nargs="+", default=None, help="default: the paper's three"
    )
    args = parser.parse_args()
    corpus = load_sib200(languages=args.languages) if args.languages else load_sib200()
    for workers in args.workers:
        speed = synthesis_speed(corpus, n=args.n, backend=args.backend, workers=workers)
        print(
            f"{args.backend}, {workers} worker(s): {speed['utterances']} clips, "
            f"{speed['audio_seconds']:.0f} s of speech in "
            f"{speed['wall_seconds']:.1f} s = {speed['x_realtime']:.0f}x real time; "
            f"/ target {TARGET_X_REALTIME:.0f}x = "
            f"{speed['x_realtime'] / TARGET_X_REALTIME:.2f}"
        )


if __name__ == "__main__":
    main()
