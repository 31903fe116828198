"""What a training step costs: the substrate's `ar` and `mdlm` against FLUID's stage I (issue 34):

    python benchmarks/fluid_training.py [--steps 60] [--threads 1] [OVERRIDES ...]

For each model: parameters, seconds per optimiser step (the median of `--steps` steps after 10
warm-up steps, on real training batches of its own batch size, forward + backward + AdamW) and
that times its configured steps, in core-seconds at `--threads` 1. Models are built at the
settings of the config (default experiment=fluid), untrained: a step's cost does not depend on
the weights (stage I draws a fresh mask layout every step, as in training). Run it on an idle
machine; ratios are to `mdlm`, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning_modules.autoregressive.registered  # noqa: E402,F401  (registers the `ar` model)
from lightning_modules.core.registry import MODELS  # noqa: E402
from lightning_modules.data.toy import RandomBatches  # noqa: E402
from lightning_modules.fluid.models import build_fluid  # noqa: E402
from lightning_modules.fluid.module import FluidModule  # noqa: E402
from lightning_modules.mdlm.module import nelbo  # noqa: E402
from lightning_modules.mdlm.registered import build_mdlm  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402


def _seconds_per_step(loss_of, params, batches, steps: int) -> float:
    opt = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for i, (x,) in zip(range(steps + 10), batches, strict=False):
        t0 = time.perf_counter()
        loss = loss_of(x.long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 10:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="timed optimiser steps per model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("overrides", nargs="*", default=["experiment=fluid"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose(args.overrides)
    dm = ModelStore(ArtifactCache(cfg.cache_dir)).data(cfg)
    sub = cfg.substrate

    def batches(role: str):  # the same windows for every model of a batch size
        return iter(RandomBatches(dm.train, batch_size=int(sub[role].batch_size), seed=0))

    rows = []
    torch.manual_seed(0)
    mdlm = build_mdlm(cfg, dm).train()
    rows.append(("mdlm", mdlm, _seconds_per_step(lambda x: nelbo(mdlm, x, mask_id=dm.mask_id),
                                                 list(mdlm.parameters()), batches("mdlm"), args.steps)))
    torch.manual_seed(0)
    ar = MODELS.get("ar").build(cfg, dm).train()
    rows.append(("ar", ar, _seconds_per_step(lambda x: F.cross_entropy(ar(x).flatten(0, 1), x.flatten()),
                                             list(ar.parameters()), batches("ar"), args.steps)))
    torch.manual_seed(0)
    fluid = build_fluid(cfg, dm).train()
    s = sub.fluid
    module = FluidModule(fluid, k_max=s.k_max, share=s.share, noise=s.noise, lr=s.lr, max_steps=s.steps)
    rows.append(("fluid", fluid, _seconds_per_step(lambda x: sum(module.losses(x)), list(fluid.parameters()),
                                                   batches("fluid"), args.steps)))
    base = rows[0][2]
    print(f"{args.threads} thread(s), {args.steps} timed steps each; core-seconds = s/step x threads x steps")
    print(f"{'model':<8} {'params':>9} {'batch':>6} {'s/step':>8} {'vs mdlm':>8} {'steps':>7} {'core-s':>9}")
    for role, net, sec in rows:
        steps = int(sub[role].steps)
        print(f"{role:<8} {sum(p.numel() for p in net.parameters()):>9,} {int(sub[role].batch_size):>6} "
              f"{sec:>8.4f} {sec / base:>7.2f}x {steps:>7,} {sec * args.threads * steps:>9,.0f}")


if __name__ == "__main__":
    main()
