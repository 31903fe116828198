"""How many windows a text sampler should run at once: wall-clock of one method's sampling of
n windows by chunk size, each method built as a trial builds it (its models cached or shipped):

    python benchmarks/text_chunks.py [--n 1024] [--chunks 1024,256,128,64] [--threads 2] \
        [--methods mdlm,autoregressive] [OVERRIDES ...]

One untimed warm-up per method, then one timed run per chunk size, in turn; the tokens must
not depend on the chunk (checked). Prints seconds and the ratio to the largest chunk, per
method, measured in one run. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.core.registry import METHODS, build_method  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402
from sweeps.trial import knob_settings  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--chunks", default="1024,256,128,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="mdlm,autoregressive")
    ap.add_argument("overrides", nargs="*", default=["experiment=scheduling"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    chunks = [int(c) for c in args.chunks.split(",")]
    store = None
    print(f"n = {args.n}, {args.threads} thread(s); seconds per sampling run (ratio to chunk {chunks[0]})")
    for name in args.methods.split(","):
        cfg = compose([*args.overrides, f"method={name}"])
        store = store or ModelStore(ArtifactCache(cfg.cache_dir))
        spec = METHODS.get(name)
        method = build_method(spec.name, {need: store.get(need, cfg) for need in spec.needs}, knob_settings(cfg))
        if not hasattr(method, "chunk"):
            print(f"{name}: no chunk setting")
            continue
        method.generate(min(64, args.n), 1)  # warm-up
        row, first, tokens = [], None, None
        for chunk in chunks:
            method.chunk = chunk
            t0 = time.perf_counter()
            batch = method.generate(args.n, 0)
            sec = time.perf_counter() - t0
            if tokens is not None and not torch.equal(tokens, batch.samples):
                sys.exit(f"{name}: chunk {chunk} changed the samples")
            tokens, first = batch.samples, first or sec
            row.append(f"{chunk}: {sec:6.1f} s ({sec / first:.2f})")
        print(f"{name:<16} " + "   ".join(row), flush=True)


if __name__ == "__main__":
    main()
