"""Do the autoregressive baselines copy their training text? The evaluator LM is trained on the
same training plays, so a model that recites them would buy a low gen PPL:

    python benchmarks/text_copying.py [--n 512] [--seed 1] [NAME=OVERRIDE,OVERRIDE ...]

For held-out windows and for temperature-1 samples of each named autoregressive model (default:
the substrate's ar, ar[2x] and ar[d5]), prints the fraction of character k-grams (k = 12, 20,
32) that occur anywhere in the training split, and the gen PPL under the evaluator. Samples
that copy more than held-out text does would show it here. Models come from the package's
shipped weights or WSBENCH_CACHE, never trained here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.autoregressive.sampler import sample_cached  # noqa: E402
from lightning_modules.metrics.text import gen_ppl, sequence_nll  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402

KS = (12, 20, 32)
DEFAULT_MODELS = ["ar=", "ar[2x]=substrate.ar.steps=40000", "ar[d5]=substrate.ar.depth=5"]


def copied_fraction(rows: torch.Tensor, seen: set[tuple[int, ...]], k: int) -> float:
    """Fraction of the k-grams of `rows` [n, L] that are in `seen`."""
    grams = [tuple(row[i:i + k]) for row in rows.tolist() for i in range(len(row) - k + 1)]
    return sum(g in seen for g in grams) / max(len(grams), 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512, help="windows per model")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS,
                    help="NAME=OVERRIDE,OVERRIDE (config overrides on experiment=text_substrate)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = compose(["experiment=text_substrate"])
    store = ModelStore(ArtifactCache(base.cache_dir))
    dm, lm = store.data(base), store.get("text_lm", base)
    train = dm.train.flatten().tolist()
    seen = {k: {tuple(train[i:i + k]) for i in range(len(train) - k + 1)} for k in KS}

    def report(name: str, rows: torch.Tensor) -> None:
        ppl = gen_ppl(sequence_nll(lm, rows), n_boot=0).value
        parts = "  ".join(f"{k}-grams {copied_fraction(rows, seen[k], k):.3f}" for k in KS)
        print(f"{name:<18} in training text: {parts}   gen PPL {ppl:.3f}", flush=True)

    g = torch.Generator().manual_seed(args.seed)
    report("held-out windows", dm.val[torch.randperm(len(dm.val), generator=g)[:args.n]].long())
    for spec in args.models:
        name, _, sets = spec.partition("=")
        cfg = compose(["experiment=text_substrate", "method=autoregressive", *[s for s in sets.split(",") if s]])
        key = store.key("ar", cfg)
        if not store.has(key):
            sys.exit(f"benchmarks/text_copying.py: {name} [{key}] is not trained (wsbench train experiment=text_substrate)")
        u = torch.rand(args.n, dm.seq_len, generator=torch.Generator().manual_seed(args.seed))
        report(name, sample_cached(store.get("ar", cfg), u, 1.0))


if __name__ == "__main__":
    main()
