"""What per-sample reproducibility costs: seeding.randn/rand against one batched torch draw.

    python benchmarks/draws.py [--n 4000] [--threads 2]

Prints, for the row shapes the samplers draw, the median time of each and their ratio
(the design asks for at most 1.5x at n = 4,000). Medians of 30 calls after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lightning_modules.core import seeding

SHAPES = {  # who draws rows of this shape
    "gmm component (1)": ("rand", ()),
    "toy noise (2)": ("randn", (2,)),
    "digits noise (1x8x8)": ("randn", (1, 8, 8)),
    "conv-vae latent+pixels (72)": ("randn", (72,)),
    "n-gram draft (64)": ("rand", (64,)),
    "dfm jumps (64 steps x 64)": ("rand", (64, 64)),
}


def _median_ms(fn, calls: int = 30) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.n
    print(f"n={n} threads={args.threads}")
    print(f"{'rows':30s} {'batched ms':>11s} {'per-sample ms':>14s} {'ratio':>6s}")
    for label, (kind, shape) in SHAPES.items():
        batched = getattr(torch, kind)
        ours = getattr(seeding, kind)
        g = torch.Generator().manual_seed(0)
        # Called right away, so binding the loop variables late is harmless.
        t_batched = _median_ms(lambda: batched((n, *shape), generator=g))  # noqa: B023
        t_ours = _median_ms(lambda: ours(n, *shape, seed=0, stream="bench"))  # noqa: B023
        print(f"{label:30s} {t_batched:11.3f} {t_ours:14.3f} {t_ours / t_batched:6.2f}")


if __name__ == "__main__":
    main()
