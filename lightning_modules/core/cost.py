"""Cost of one method setting: a per-network ledger, FLOPs, wall-clock and peak memory.

The order is what keeps the numbers honest:
1. a warm-up run, watched by the ledger (which network, which shapes, how often); its samples
   are the ones evaluated;
2. `repeats` timed runs of the code path a user's sampler runs (draft, then refine, random
   draws included), with nothing watching; the total is the median of whole runs;
3. untimed: FLOPs of every (network, shapes) the ledger saw and of the drafter.
The warm-up batch's counters (named per-sample statistics the method reports, e.g. tokens per
pass) go into `cost["counters"]` as plain floats. With `check_ledger`, between steps 1 and 2
the first calls of each (network, shapes) are replayed on their real inputs: a network whose
FLOPs depend on the values inside its tensors breaks the ledger's contract (core.ledger) and
stops the trial before any timing; the peak memory is then the timed runs'.
Peak memory is the trial's: CUDA's peak allocation, or on Linux the process's resident peak
after resetting it (`/proc/self/clear_refs`); elsewhere the process's high-water mark, said so.
"""

from __future__ import annotations

import contextlib
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.core.ledger import Ledger, countable, nfe_in_largest
from lightning_modules.core.method import Method, SampleBatch

FLOPS_COUNTED = "matrix products, convolutions and attention; elementwise work is not counted"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn, *args, **kwargs) -> int:  # noqa: ANN001
    """FLOPs of one call of fn (matrix products; elementwise work is not counted)."""
    with countable(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def plain_counters(method: Method, counters: dict) -> dict[str, float]:
    """The method's counters as {name: float}; a non-str name or a non-finite value is an error."""
    out = {}
    for name, value in counters.items():
        if not isinstance(name, str):
            raise TypeError(f"method '{method.name}' reported a counter named {name!r}: counter names are str")
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"method '{method.name}' reported counter {name}={value!r}: "
                             "a counter is one finite number, a per-sample mean")
        out[name] = number
    return out


def drafter_cost(method: Method, n: int, seed: int) -> dict:
    """The drafter's FLOPs per sample and what its work is. Its own count where it has one
    (FlopCounterMode misses nn.LSTM), else counted on a draft of n samples."""
    drafter = method.drafter
    own = getattr(drafter, "flops_per_sample", None)
    flops = float(own()) if own is not None else count_flops(method.draft, n, seed) / n
    return {"flops_per_sample": flops, "counted_by": "its own formula" if own is not None else "FlopCounterMode",
            "work": getattr(drafter, "work", "matrix products")}


class PeakMemory:
    """Peak memory of the code run between `reset()` and `read()`."""

    _CLEAR = Path("/proc/self/clear_refs")

    def __init__(self, device: torch.device) -> None:
        self.device, self.scope = device, "trial"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            self._CLEAR.write_text("5")  # Linux: resets the resident high-water mark (VmHWM)
        except OSError:
            self.scope = "process"

    def read(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        if self.scope == "trial":
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)


STALLED = 0.5  # a timed run with less CPU than half its wall time (any thread count) waited for the CPU


def cpu_share(cpu_s: list[float], wall_s: list[float]) -> float | None:
    """The least CPU time per wall second over the timed runs (1 thread busy: about 1)."""
    shares = [c / w for c, w in zip(cpu_s, wall_s, strict=True) if w > 0]
    return min(shares) if shares else None


@torch.inference_mode()
def measure(method: Method, n: int, seed: int, *, repeats: int = 3, flop_n: int = 64,
            device: torch.device | str = "cpu", timing_guard=None, check_ledger: bool = False,
            latency_windows: int = 0) -> SampleBatch:  # noqa: ANN001
    """Generate n samples and measure their cost; returns the batch with `cost` filled.
    `latency_windows` > 0: also the latency of one sample at batch 1, `repeats` timed runs of
    that many samples one after another (seeds seed + 1, seed + 2, ...), each run's seconds per
    sample in `cost.latency_runs_s` and their median in `cost.latency_s`.
    `timing_guard()`: a context manager around the timed runs (the caller's view of what else
    runs on the host); the dict it yields, filled on exit, becomes `cost.load`.
    `check_ledger`: enforce the ledger's contract on this method's calls (LedgerContractError;
    untimed: copies of the first calls' inputs are replayed after the warm-up, then freed)."""
    device = torch.device(device)
    memory = PeakMemory(device)
    memory.reset()
    with Ledger(method.networks(), check=check_ledger) as ledger:
        batch = method.generate(n, seed)  # warm-up: watched, untimed; its samples are evaluated
    counters = plain_counters(method, batch.counters)  # before the timed runs: a bad one stops early
    if check_ledger:
        # Before timing, so the check's copies of real inputs are freed and out of the peak,
        # which then is the timed runs' (the same code path as the warm-up).
        ledger.check_contract()
        memory.reset()
    drafter_s, refiner_s, total_s, cpu_s = [], [], [], []
    with (timing_guard() if timing_guard else contextlib.nullcontext({})) as load:
        for _ in range(max(1, repeats)):
            sync(device)
            c0 = time.process_time()
            t0 = time.perf_counter()
            drafts = method.draft(n, seed)
            sync(device)
            t1 = time.perf_counter()
            method.refine(drafts, n, seed)
            sync(device)
            t2 = time.perf_counter()
            cpu_s.append(time.process_time() - c0)
            drafter_s.append(t1 - t0)
            refiner_s.append(t2 - t1)
            total_s.append(t2 - t0)
        latency_s = [batch_one(method, latency_windows, seed, device) for _ in range(max(1, repeats))] \
            if latency_windows > 0 else []
    peak = memory.read()
    # Untimed from here: FLOPs of what the ledger saw, and of the drafter.
    networks = ledger.breakdown(n)
    drafter = drafter_cost(method, flop_n, seed) if batch.drafts is not None else None
    drafter_flops = drafter["flops_per_sample"] if drafter else 0.0
    nfe, largest = nfe_in_largest(networks, drafter_flops)
    unit = networks[largest]["flops_per_eval"] if largest else drafter_flops
    # The total is the median of whole runs (not median drafter + median refiner, which can
    # pair a fast draft of one run with a fast refine of another); the parts are their own medians.
    total = statistics.median(total_s)
    batch.cost = {
        "nfe": nfe,
        "evals": batch.nfe,
        "flops": drafter_flops + sum(v["flops_per_sample"] for v in networks.values()),
        "block_passes": sum(v["block_passes_per_sample"] for v in networks.values()),  # the calls made, per sample
        "nominal_block_passes": method.nominal_block_passes(),  # what its settings were priced at (or None)
        "networks": networks,
        "largest_network": largest,
        "drafter": drafter,
        "drafter_flops": drafter_flops,
        "drafter_nfe_equiv": drafter_flops / unit if unit > 0 else 0.0,
        "flops_counted": FLOPS_COUNTED,
        "load": dict(load),
        "wallclock_s": total,
        "wallclock_runs_s": list(total_s),  # each timed run: their spread enters the wall-clock interval
        # CPU seconds of this process in each timed run, all threads: a run that got much less
        # CPU than wall time waited (another process, a paused machine): `cpu_share` < 0.5 flags it
        "cpu_runs_s": list(cpu_s),
        "cpu_share": cpu_share(cpu_s, total_s) if device.type == "cpu" else None,
        "drafter_s": statistics.median(drafter_s),
        "refiner_s": statistics.median(refiner_s),
        "throughput": n / total if total > 0 else None,
        "latency_s": statistics.median(latency_s) if latency_s else None,  # one sample at batch 1
        "latency_runs_s": latency_s or None,
        "peak_mem_bytes": peak,
        "peak_mem_scope": memory.scope,
        "timing_repeats": max(1, repeats),
        "counters": counters,
    }
    return batch


def batch_one(method: Method, windows: int, seed: int, device: torch.device) -> float:
    """Seconds per sample of `windows` samples generated one at a time (batch 1): the latency a
    user waits for one, where a parallel decoder's fewer passes pay most."""
    sync(device)
    start = time.perf_counter()
    for i in range(windows):
        method.refine(method.draft(1, seed + 1 + i), 1, seed + 1 + i)
    sync(device)
    return (time.perf_counter() - start) / windows
