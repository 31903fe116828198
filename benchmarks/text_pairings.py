"""How much a WS-DFM training pair's draft agrees with its data window, per pairing and drafter.

    python benchmarks/text_pairings.py [--orders 2 4] [--batch 64]

On the held-out (val) windows of `data=shakespeare`: `teacher_forced` (the drafter fed the
window's own prefix), `independent` (a free-running draft beside a random window) and
`hamming_ot` (free-running drafts assigned to the windows of their batch by fewest differing
positions, as refiner training pairs them). Prints the fraction of positions where draft and
window agree: what the refiner learns to keep.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.continuous.pairing import hamming_ot  # noqa: E402
from lightning_modules.drafters.ngram import NGramDrafter  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402


def agreement(drafts: torch.Tensor, windows: torch.Tensor) -> float:
    return float((drafts == windows).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    cfg = compose(["data=shakespeare"])
    dm = ModelStore(ArtifactCache()).data(cfg)
    val = dm.val
    print(f"{len(val)} val windows of {dm.seq_len} characters, vocabulary {dm.vocab_size}")
    for order in args.orders:
        drafter = NGramDrafter.fit(dm.train.flatten(), dm.vocab_size, dm.seq_len, order)
        free = drafter.sample(len(val), seed=1)
        teacher = drafter.teacher_forced(val, seed=1)
        shuffled = val[torch.randperm(len(val), generator=torch.Generator().manual_seed(0))]
        ot = torch.cat([hamming_ot(d, w) for d, w in zip(free.split(args.batch), shuffled.split(args.batch),
                                                           strict=True)])
        print(f"{order}-gram: teacher_forced {agreement(teacher, val):.3f}, independent {agreement(free, shuffled):.3f}, "
              f"hamming_ot (batches of {args.batch}) {agreement(free, ot):.3f}")


if __name__ == "__main__":
    main()
