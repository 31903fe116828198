"""What a training step costs, one model at a time: the substrate MDLM (and its shallower
light models) against the FP-MDLM's training losses (issue 33):

    python benchmarks/fp_training.py [--steps 60] [--threads 1] [OVERRIDES ...]

For each model: parameters, seconds per optimiser step (the median of `--steps` steps after
10 warm-up steps, on real training batches, forward + backward + AdamW) and the peak resident
memory of those steps (Linux VmHWM, reset before each model). Models are built at the
settings of the config (default experiment=cofre), untrained: a step's cost does not depend on
the weights. Run it on an idle machine; it prints ratios to the 4-block MDLM measured in the
same run.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.cofre.models import FP, build_fp  # noqa: E402
from lightning_modules.cofre.module import FPMDLMModule  # noqa: E402
from lightning_modules.core.cost import PeakMemory  # noqa: E402
from lightning_modules.data.toy import RandomBatches  # noqa: E402
from lightning_modules.mdlm.module import nelbo  # noqa: E402
from lightning_modules.mdlm.registered import build_mdlm  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402


def _steps(loss_of, params, batches, steps: int) -> tuple[float, int]:
    opt = torch.optim.AdamW(params, lr=1e-4)
    memory = PeakMemory(torch.device("cpu"))
    times = []
    for i, (x,) in zip(range(steps + 10), batches, strict=False):
        if i == 10:
            memory.reset()
        t0 = time.perf_counter()
        loss = loss_of(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i >= 10:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), memory.read()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="timed optimiser steps per model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("overrides", nargs="*", default=["experiment=cofre"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose(args.overrides)
    dm = ModelStore(ArtifactCache(cfg.cache_dir)).data(cfg)
    s = cfg.substrate[FP]
    rows = []

    def batches():  # the same batches for every model
        return iter(RandomBatches(dm.train, batch_size=int(s.batch_size), seed=0))

    for depth in (4, 2, 1):
        c = copy.deepcopy(cfg)
        c.substrate.mdlm.depth = depth
        torch.manual_seed(0)
        net = build_mdlm(c, dm).train()
        sec, peak = _steps(lambda x, net=net: nelbo(net, x, mask_id=dm.mask_id), list(net.parameters()), batches(),
                           args.steps)
        rows.append((f"MDLM depth {depth}", sum(p.numel() for p in net.parameters()), sec, peak))
    for extra in ("elbo", "distill", "consistency"):
        torch.manual_seed(0)
        net = build_fp(cfg, dm).train()
        teacher = build_mdlm(cfg, dm).eval() if extra == "distill" else None
        module = FPMDLMModule(net, mask_id=dm.mask_id, lr=1e-4, ema_decay=0.999, max_steps=10, ng_max=s.ng_max,
                              g_min=s.g_min, g_max=s.g_max, extra=extra, teacher=teacher, warmup=0)
        if extra == "elbo":
            def loss_of(x, module=module):
                return module.loss((x,))
        else:
            def loss_of(x, module=module):
                n_ng, n_g = module.draw_iterations()
                return module.cross_step_loss(x, n_ng, n_g, 0.1)
        sec, peak = _steps(loss_of, list(net.parameters()), batches(), args.steps)
        label = {"elbo": "FP-MDLM (ELBO, SJFB)", "distill": "FP-MDLM + distillation", "consistency":
                 "FP-MDLM + consistency"}[extra]
        rows.append((label, sum(p.numel() for p in net.parameters()), sec, peak))
    base = rows[0][2]
    print(f"{args.threads} thread(s), batch {s.batch_size}, {args.steps} timed steps each; "
          f"FP iterations U{{0..{s.ng_max}}} + U{{{s.g_min}..{s.g_max}}}")
    print(f"{'model':<28} {'params':>9} {'s/step':>8} {'vs MDLM-4':>9} {'peak MiB':>9}")
    for label, params, sec, peak in rows:
        print(f"{label:<28} {params:>9,} {sec:>8.4f} {sec / base:>8.2f}x {peak / 2**20:>9.0f}")


if __name__ == "__main__":
    main()
