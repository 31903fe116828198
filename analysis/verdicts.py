"""One verdict per comparison, decided by its interval (issue 31).

A speed-up's 95% interval over the paired bootstrap replicates (``analysis.intervals``) gives
the verdict: **faster** when its low end is above 1 (the drafter alone reaching the target
counts as faster), **never** when the method reaches the target in no more than 2.5% of the
replicates (its high end is "never"), **slower** when its high end is below 1, else
**undecided**. A "≥" high end (reached at the grid's smallest budget) may hide a larger
ratio, so it never decides "slower".

For an undecided comparison, a power estimate of the samples per trial that would decide it:
the method's trial that decides the question (the cheapest one reaching the target when it
reaches it, else the best of those cheaper than the baseline at its target) is compared with
the target replicate by replicate, ``d_b = q_method,b - target_b``; with the mean difference
held fixed and its bootstrap SD shrinking as 1/sqrt(n), the interval of ``d`` leaves 0 at
``n * (z * sd / |mean|)^2`` samples. It is an estimate, stated as such: the mean moves as n
grows, and the speed-up also depends on the grid.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from analysis.measured import Points

FASTER, SLOWER, NEVER, UNDECIDED = "faster", "slower", "never", "undecided"


def verdict(interval: dict[str, Any]) -> str | None:
    """The verdict of one speed-up interval (``analysis.intervals.speedup_interval``'s dict),
    None when it has no interval (no paired replicates)."""
    if not interval.get("n_boot"):
        return None
    lo_text, hi_text = interval["lo_text"], interval["hi_text"]
    if lo_text == "drafter" or (interval["lo"] is not None and interval["lo"] > 1.0):
        return FASTER
    if hi_text == "never":
        return NEVER
    if not hi_text.startswith("≥") and interval["hi"] is not None and interval["hi"] < 1.0:
        return SLOWER
    return UNDECIDED


def samples_to_decide(baseline: Points, method: Points, target_of, n_samples: int,
                      ci: float = 0.95) -> dict[str, Any] | None:
    """The power estimate of an undecided comparison: ``{n, trial, mean, sd}`` (``n`` None
    when the mean difference is 0: no sample size decides a trial sitting on the target), or
    None without replicates or a deciding trial. ``target_of(boot [n, B]) -> [B]`` is the
    target per replicate (the baseline's best, or within a tolerance of it)."""
    if baseline.boot.shape[1] == 0 or method.boot.shape[1] == 0 or not len(method.cost):
        return None
    target = target_of(np.where(np.isfinite(baseline.boot), baseline.boot, np.inf))
    ranked = np.where(np.isfinite(baseline.quality), baseline.quality, np.inf)
    point_target = float(target_of(ranked[:, None])[0])  # the point estimate's target
    reaching = np.flatnonzero(method.quality <= point_target)
    if len(reaching):
        pick = reaching[np.lexsort((method.quality[reaching], method.cost[reaching]))[0]]
    else:
        best = int(np.argmin(ranked))
        cheaper = np.flatnonzero(method.cost < baseline.cost[best])
        if not len(cheaper):
            return None
        pick = cheaper[np.argmin(method.quality[cheaper])]
    diff = method.boot[pick] - target
    keep = np.isfinite(diff)
    if keep.sum() < 2:
        return None
    mean, sd = float(diff[keep].mean()), float(diff[keep].std(ddof=1))
    z = NormalDist().inv_cdf((1 + ci) / 2)
    n = None if mean == 0 else max(n_samples, math.ceil(n_samples * (z * sd / abs(mean)) ** 2))
    return {"n": n, "trial": int(method.trial[pick]), "mean": mean, "sd": sd}


def judged(result: dict[str, Any] | None, missing: str = "baseline") -> str:
    """A speed-up table cell: "8.0x [5.1, 12.3], faster" (the verdict after the interval);
    ``missing`` where there is no result (the baseline's own row)."""
    if not result:
        return missing
    word = (result.get("verdict") or {}).get("word")
    return f"{result['display']}, {word}" if word else result["display"]
