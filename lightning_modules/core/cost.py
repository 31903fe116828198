"""Cost of one method setting: counted NFE, FLOPs, wall-clock (drafter, refiner, total), memory.

Wall-clock excludes a warm-up run, synchronises CUDA where used, and is the median of
`repeats` timed runs. FLOPs come from `FlopCounterMode` on one small batch, scaled by the
counted NFE. Peak memory is CUDA's max allocated, or on CPU the process's peak RSS
(a high-water mark over the whole process, not per trial: say so where it is reported).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.core.method import Method, SampleBatch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn, *args, **kwargs) -> int:  # noqa: ANN001
    """FLOPs of one call of fn (matrix products; elementwise work is not counted)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def eval_flops_per_sample(net: torch.nn.Module, n: int = 64) -> float:
    """FLOPs of one velocity evaluation per sample (t0 passed when the net is conditioned).

    Counted in training mode: in eval mode under inference_mode, PyTorch's fused transformer
    fast path hides attention and feed-forward products from FlopCounterMode."""
    x = torch.zeros(n, *net.sample_shape)
    t = torch.full((n,), 0.5)
    extra = (t,) if getattr(net, "t0_conditioned", False) else ()
    was_training = net.training
    net.train()
    try:
        with torch.inference_mode():
            return count_flops(net, x, t, *extra) / n
    finally:
        net.train(was_training)


def drafter_flops_per_sample(method: Method, n: int, seed: int) -> float:
    """A drafter's own count where it has one (FlopCounterMode misses nn.LSTM), else counted."""
    own = getattr(getattr(method, "drafter", None), "flops_per_sample", None)
    return float(own()) if own is not None else count_flops(method.draft, n, seed) / n


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


@torch.inference_mode()
def measure(
    method: Method, n: int, seed: int, *, eval_flops: float, repeats: int = 3,
    flop_n: int = 64, device: torch.device | str = "cpu",
) -> SampleBatch:
    """Generate n samples and measure their cost; returns the batch with `cost` filled.

    eval_flops: FLOPs of one refiner evaluation per sample (from `eval_flops_per_sample`),
    the unit in which the drafter's cost is also expressed (`drafter_nfe_equiv`).
    """
    device = torch.device("cpu" if device == "auto" else device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch = method.generate(n, seed)  # warm-up run; its samples are the ones evaluated
    drafter_s, refiner_s, total_s = [], [], []
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        drafts = method.draft(n, seed)
        _sync(device)
        t1 = time.perf_counter()
        method.refine(drafts, n, seed)
        _sync(device)
        t2 = time.perf_counter()
        drafter_s.append(t1 - t0)
        refiner_s.append(t2 - t1)
        total_s.append(t2 - t0)
    drafter_flops = 0.0
    if batch.drafts is not None:
        drafter_flops = drafter_flops_per_sample(method, flop_n, seed)
    # The total is the median of whole runs (not median drafter + median refiner, which can
    # pair a fast draft of one run with a fast refine of another); the parts are their own medians.
    drafter_time, refiner_time = statistics.median(drafter_s), statistics.median(refiner_s)
    total = statistics.median(total_s)
    batch.cost = {
        "nfe": batch.nfe,
        "drafter_nfe_equiv": drafter_flops / eval_flops if eval_flops > 0 else 0.0,
        "flops": drafter_flops + batch.nfe * eval_flops,
        "drafter_flops": drafter_flops,
        "wallclock_s": total,
        "drafter_s": drafter_time,
        "refiner_s": refiner_time,
        "throughput": n / total if total > 0 else None,
        "peak_mem_bytes": peak_memory_bytes(device),
        "timing_repeats": max(1, repeats),
    }
    return batch
