"""Cost axes: how much one sample cost, read from a trial record, and how each axis is named.

Adding an axis is one line in ``COST_AXES``; each axis becomes a column of the same name in
``load_trials``' table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _per_sample_wallclock(record: dict[str, Any]) -> float | None:
    cost = record.get("cost") or {}
    seconds, n = cost.get("wallclock_s"), record.get("n_samples")
    if seconds is None or not n:
        return None
    return float(seconds) / float(n)


# name -> cost per sample read from one trial record
COST_AXES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "nfe": lambda r: (r.get("cost") or {}).get("nfe"),
    "wallclock": _per_sample_wallclock,
    "flops": lambda r: (r.get("cost") or {}).get("flops"),
    # transformer-block passes of the calls made (the ledger's count; absent in older records)
    "blocks": lambda r: (r.get("cost") or {}).get("block_passes"),
    # seconds per sample at batch 1 (eval.latency_windows > 0; absent otherwise)
    "latency": lambda r: (r.get("cost") or {}).get("latency_s"),
}

COST_AXIS_LABELS: dict[str, str] = {
    "nfe": "NFE per sample (largest network; drafter included)",
    "wallclock": "wall-clock seconds per sample",
    "flops": "FLOPs per sample",
    "blocks": "transformer-block passes per sample",
    "latency": "seconds per sample at batch 1",
}
AXIS_SHORT = {"nfe": "NFE", "wallclock": "wall-clock", "flops": "FLOPs", "blocks": "blocks",
              "latency": "latency"}  # table headers

FIGURE_AXES = ("nfe", "flops", "wallclock")  # fronts are always drawn on these axes, and on the study's sweep.cost_axis
SPEEDUP_AXES = ("nfe", "flops", "wallclock")  # speed-ups are always given on these (FLOPs: across families)
OPTIONAL_AXES = ("latency",)  # measured where a study asks: fronts and speed-ups wherever its records have it
TIMED_AXES = {"wallclock": "wallclock_runs", "latency": "latency_runs"}  # axis -> its timed runs' column


def present(trials: Any, axes: tuple[str, ...]) -> tuple[str, ...]:
    """``axes`` and every optional axis some trial of ``trials`` (a table) has a number on."""
    extra = tuple(a for a in OPTIONAL_AXES if a not in axes and a in trials
                  and bool(trials[a].astype(float).notna().any()))
    return (*axes, *extra)
