"""Benchmark of ``metrics.bootstrap_ci``: seconds for a Table-2-sized bootstrap, and the
ratio to its budget of 1 s (formerly a wall-clock assertion in tests/test_metrics.py).

    python benchmarks/bootstrap_speed.py [--n-boot 1000] [--seeds 3] [--repeat 5]

Prints one line per case; a ratio above 1 means faster than the budget. Nothing is
asserted: timings depend on the machine and its load, so read them, do not test them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mlcl_core.metrics import bootstrap_ci

BUDGET_S = 1.0
LANGUAGES = ("zho_Hans", "bod_Tibt", "mya_Mymr")


def predictions(
    n_sent: int, n_seeds: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Parallel predictions of ``n_seeds`` runs on ``n_sent`` sentences, 3 languages."""
    rows = [
        (s, code, i)
        for s in range(n_seeds)
        for code in LANGUAGES
        for i in range(n_sent)
    ]
    seeds, lang, ids = (np.array(col) for col in zip(*rows, strict=True))
    y = rng.integers(0, 7, len(rows))
    y_hat = np.where(rng.random(len(rows)) < 0.7, y, (y + 1) % 7)
    return {"y": y, "y_hat": y_hat, "lang": lang, "ids": ids, "runs": seeds}


def best_of(repeat: int, fn) -> float:
    """The fastest of ``repeat`` timed calls (least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--sentences", type=int, default=204, help="SIB-200's test split has 204"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for n_seeds in sorted({1, args.seeds}):
        p = predictions(args.sentences, n_seeds, rng)
        runs = p.pop("runs")
        seconds = best_of(
            args.repeat,
            lambda p=p, runs=runs: bootstrap_ci(**p, runs=runs, n_boot=args.n_boot),
        )
        print(
            f"bootstrap_ci: {args.sentences} sentences x {len(LANGUAGES)} languages "
            f"x {n_seeds} seed(s), "
            f"{args.n_boot} draws: {seconds:.3f} s (best of {args.repeat}); "
            f"budget {BUDGET_S:.1f} s / measured = {BUDGET_S / seconds:.1f}x"
        )


if __name__ == "__main__":
    main()
