"""Training step time in fp32 and under bf16 autocast, for the text substrate's three models
at their configured sizes (the evaluator LM, the autoregressive and the MDLM baselines).

    python benchmarks/bf16_training.py [--threads N] [--steps N] [OVERRIDES ...]

One optimiser step = forward, backward and AdamW on a batch of `batch_size` random windows.
The modes alternate (fp32, bf16, fp32, bf16) so that other load on the machine hits both
alike; each prints its median step and the ratio fp32 / bf16 measured in this run. bf16 pays
off where the CPU has native bf16 matrix units (AMX, AVX512-BF16); elsewhere it can be slower.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.mdlm.module import nelbo  # noqa: E402
from lightning_modules.metrics.evaluator_lm import CausalTransformerLM  # noqa: E402
from lightning_modules.nets.causal import CausalLM  # noqa: E402
from lightning_modules.nets.transformer import TransformerDenoiser  # noqa: E402
from sweeps.config import compose  # noqa: E402


def models(cfg, vocab: int) -> dict:  # noqa: ANN001
    """{name: (net, loss(net, tokens))} at the config's sizes, in training mode."""
    e, a, m, n = cfg.eval.text_lm, cfg.substrate.ar, cfg.substrate.mdlm, int(cfg.data.seq_len)
    lm = CausalTransformerLM(vocab, n, e.width, e.depth, e.heads, dropout=float(e.dropout))
    ar = CausalLM(vocab, n, width=a.width, depth=a.depth, heads=a.heads, dropout=float(a.dropout))
    mdlm = TransformerDenoiser(vocab, n, width=m.width, depth=m.depth, heads=m.heads, time_input=False,
                               dropout=float(m.dropout))
    return {f"evaluator {e.width}x{e.depth}": (lm, lambda net, x: net.val_loss((x,))),
            f"autoregressive {a.width}x{a.depth}": (ar, lambda net, x: torch.nn.functional.cross_entropy(
                net(x).flatten(0, 1), x.flatten())),
            f"mdlm {m.width}x{m.depth}": (mdlm, lambda net, x: nelbo(net, x, mask_id=vocab))}


def step_seconds(net, loss_fn, x, bf16: bool, steps: int) -> float:  # noqa: ANN001
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    args, overrides = parser.parse_known_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose(["data=shakespeare", *overrides])
    vocab, batch = 81, int(cfg.eval.text_lm.batch_size)
    x = torch.randint(0, vocab, (batch, int(cfg.data.seq_len)), generator=torch.Generator().manual_seed(0))
    print(f"{args.threads} thread(s), batches of {batch} windows of {cfg.data.seq_len}, median of {args.steps} steps")
    for name, (net, loss_fn) in models(cfg, vocab).items():
        seconds = {"fp32": [], "bf16": []}
        for mode in ("fp32", "bf16", "fp32", "bf16"):
            seconds[mode].append(step_seconds(net.train(), loss_fn, x, mode == "bf16", args.steps))
        fp32, bf16 = min(seconds["fp32"]), min(seconds["bf16"])
        print(f"{name:>22}: fp32 {fp32 * 1e3:7.0f} ms  bf16 {bf16 * 1e3:7.0f} ms  fp32/bf16 {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
