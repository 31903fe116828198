"""The `corrupt` pairing's rate matched to a drafter's real error: the fraction r of a held-out
window's tokens swapped for the drafter's teacher-forced tokens at which the corrupted
windows score the gen PPL of the drafter's own free-running drafts.

    python benchmarks/corrupt_rate.py [OVERRIDES ...]   (e.g. experiment=shakespeare)

For the 4-gram and the LSTM drafter of the composed config (trained or taken from the
cache, as is the evaluator LM): the evaluator's gen PPL of free-running drafts, then of
`corrupt(val, teacher_forced(val), r)` over a grid of r, and r interpolated where the two
meet. A refiner trained at that rate sees drafts as wrong as those it will be given.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.discrete.dfm import corrupt  # noqa: E402
from lightning_modules.metrics.text import sequence_nll  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402

RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)


def gen_ppl(lm, tokens: torch.Tensor) -> float:  # noqa: ANN001
    return math.exp(float(sequence_nll(lm, tokens).mean()))


def main(overrides: list[str]) -> None:
    torch.set_num_threads(1)
    for name, extra in (("4-gram", ["drafter=ngram", "drafter.order=4"]), ("lstm", ["drafter=lstm"])):
        cfg = compose([*overrides, "method=ws_dfm", *extra])
        store = ModelStore(ArtifactCache(cfg.cache_dir), log=lambda *_: None)
        val, lm, drafter = store.data(cfg).val, store.get("text_lm", cfg), store.get("drafter", cfg)
        with torch.inference_mode():
            free = drafter.sample(len(val), seed=1)
            teacher = drafter.teacher_forced(val, seed=1)
        target = gen_ppl(lm, free)
        u = torch.rand(val.shape, generator=torch.Generator().manual_seed(0))
        ppl = [gen_ppl(lm, corrupt(val, teacher, r, u)) for r in RATES]
        matched = float(np.interp(math.log(target), np.log(ppl), RATES))  # gen PPL rises with r
        print(f"{name}: drafts alone gen PPL {target:.3f}; corrupted val "
              + ", ".join(f"r={r:g}: {p:.3f}" for r, p in zip(RATES, ppl, strict=True))
              + f"; matched rate {matched:.3f} (teacher-forced agreement {float((teacher == val).double().mean()):.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
