"""Intervals of iso-quality speed-ups over paired bootstrap replicates (DESIGN.md, "Speed-up
at iso-quality": the interval resamples the baseline's and the method's samples together).

Replicate b of every trial of a study resampled the same sample indices (one seed and n:
``lightning_modules.metrics._common.resample_generator``), and sample i of every arm used the
same noise and draft, so replicate b of the baseline and replicate b of a method are one joint
resample of both. In replicate b the target is the baseline's best replicate-b quality (the
target moves with the baseline), each side's cost is its cheapest trial whose replicate-b
quality is at or below it (measured points only, as for the point estimate), and the
speed-up is their ratio. A replicate in which the method never reaches the target counts as
speed-up 0 ("never"), one in which a drafter-only trial reaches it as infinite ("drafter"),
and a ratio whose method trial sits at the smallest budget of its grid is a lower bound
("≥"). On the wall-clock axis each trial's cost in replicate b is the median of its timed runs
resampled with replacement (trials recorded since ``cost.wallclock_runs_s``), so the interval
carries the run-to-run timing noise as well as the sampling noise. The interval is the percentile interval of the B ratios, read off the replicates
themselves (inverted CDF: no interpolation between a "never" and a number).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analysis.measured import Points

SPEEDUP_CI = 0.95  # coverage of every speed-up interval
TIMING_SEED = 0  # the draws that resample timed runs: fixed, so an analysis is reproducible


def tolerant(best: np.ndarray | float, tolerance: float) -> np.ndarray | float:
    """The target within ``tolerance`` (a fraction) of the baseline's best, for a
    lower-is-better metric: MLPerf's "99% of the reference" is tolerance 0.01. Scaled by
    |best| so that a metric that can be negative (KID) still loosens upwards."""
    return best + tolerance * np.abs(best)


def replicate_costs(points: Points, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n, B]: each point's cost in each replicate. With timed runs (wall-clock), the median of
    its runs resampled with replacement, so run-to-run timing noise widens the interval;
    otherwise its cost in every replicate."""
    out = np.repeat(points.cost[:, None], n_boot, axis=1)
    if points.runs is None or points.runs.shape[1] == 0:
        return out
    for i, runs in enumerate(points.runs):
        runs = runs[np.isfinite(runs)]
        if len(runs) > 1:
            out[i] = np.median(runs[rng.integers(0, len(runs), size=(n_boot, len(runs)))], axis=1)
    return out


def _first_reaching(cost: np.ndarray, quality: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, the index of the cheapest point (cost [n, B]) whose quality [n, B] is
    <= target [B] (ties: the earlier point), and whether any point reaches it."""
    reach = quality <= target[None, :]
    return np.where(reach, cost, np.inf).argmin(axis=0), reach.any(axis=0)


def smallest_budget(points: Points) -> np.ndarray:
    """Per point: does it sit at its grid's smallest budget (NFE when known, else cost)? A
    speed-up read there is a lower bound ("≥"). ``points.smallest`` overrides (confirmations:
    the search grid's)."""
    if points.smallest is not None:
        return points.smallest
    budget = points.nfe if np.isfinite(points.nfe).all() else points.cost
    return (budget <= np.min(budget)) | (points.cost <= np.min(points.cost))


def _paired_problem(baseline: Points, method: Points) -> str | None:
    """Why replicate b of the two sides is not one joint resample, or None when it is."""
    b_base, b_method = baseline.boot.shape[1], method.boot.shape[1]
    if b_base == 0 or b_method == 0:
        return "no bootstrap replicates recorded (eval.n_boot = 0 or an older run)"
    if b_base != b_method:
        return f"different replicate counts ({b_base} vs {b_method})"
    if baseline.pairing is None or method.pairing is None or baseline.pairing != method.pairing:
        return "trials differ in seed or n_samples, so their replicates are not paired"
    return None


def replicate_speedups(baseline: Points, method: Points, tolerance: float = 0.0) -> dict[str, np.ndarray]:
    """Per replicate b: ``ratio`` (baseline cost / method cost at replicate b's target; 0 when
    the method never reaches it, inf when a drafter-only trial does, NaN when the baseline has
    no finite replicate), ``lower`` (the method's hit sits at its grid's smallest budget) and
    ``reached``. Wall-clock costs are resampled from each trial's timed runs (``replicate_costs``,
    one fixed seed: the same inputs give the same interval)."""
    qb = np.where(np.isfinite(baseline.boot), baseline.boot, np.inf)
    qm = np.where(np.isfinite(method.boot), method.boot, np.inf)
    rng = np.random.default_rng(TIMING_SEED)
    cb, cm = replicate_costs(baseline, qb.shape[1], rng), replicate_costs(method, qm.shape[1], rng)
    target = tolerant(qb.min(axis=0), tolerance)
    base_at, _ = _first_reaching(cb, qb, target)
    hit, reached = _first_reaching(cm, qm, target)
    cols = np.arange(qb.shape[1])
    base_cost, method_cost = cb[base_at, cols], cm[hit, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(method_cost > 0, base_cost / method_cost, np.nan)
    ratio = np.where(method.drafter[hit], np.inf, ratio)
    ratio = np.where(reached, ratio, 0.0)
    ratio = np.where(np.isfinite(target), ratio, np.nan)
    lower = reached & ~method.drafter[hit] & smallest_budget(method)[hit]
    return {"ratio": ratio, "lower": lower, "reached": reached & np.isfinite(target)}


def _end_text(value: float, lower: bool) -> str:
    if value == 0:
        return "never"
    if math.isinf(value):
        return "drafter"
    return f"≥ {value:.1f}" if lower else f"{value:.1f}"


def speedup_interval(baseline: Points, method: Points, ci: float = SPEEDUP_CI,
                     tolerance: float = 0.0) -> dict[str, Any]:
    """The speed-up's percentile interval over the paired replicates.

    Returns ``{ci, n_boot, lo, hi, lo_text, hi_text, text, reach_fraction, resolved}``:
    ``lo``/``hi`` are ratios (0 = never reaches, None for inf = the drafter suffices),
    ``text`` is ``"[5.1, 12.3]"``, ``reach_fraction`` the share of replicates in which the
    method reaches the target, ``resolved`` False when the interval contains 1 (faster and
    slower cannot be told apart at this sample count). Without paired replicates:
    ``{ci, n_boot: 0, text: None, why}``.
    """
    problem = _paired_problem(baseline, method)
    if problem is None and len(baseline.cost) and len(method.cost):
        reps = replicate_speedups(baseline, method, tolerance)
        keep = ~np.isnan(reps["ratio"])
        if not keep.any():
            problem = "the baseline has no finite replicate"
    elif problem is None:
        problem = "no trials"
    if problem is not None:
        return {"ci": ci, "n_boot": 0, "text": None, "why": problem}
    ratio, lower = reps["ratio"][keep], reps["lower"][keep]
    order = np.lexsort((lower, ratio))
    n = len(order)
    ends = []
    for level in ((1 - ci) / 2, (1 + ci) / 2):
        k = order[min(n - 1, max(0, math.ceil(level * n) - 1))]  # inverted CDF
        ends.append((float(ratio[k]), bool(lower[k])))
    (lo, lo_lower), (hi, hi_lower) = ends
    # A lower-bound upper end may hide a larger ratio, so it cannot rule out 1 from above.
    hi_reach = math.inf if hi_lower else hi
    return {
        "ci": ci,
        "n_boot": n,
        "lo": None if math.isinf(lo) else lo,
        "hi": None if math.isinf(hi) else hi,
        "lo_text": _end_text(lo, lo_lower),
        "hi_text": _end_text(hi, hi_lower),
        "text": f"[{_end_text(lo, lo_lower)}, {_end_text(hi, hi_lower)}]",
        "reach_fraction": float(reps["reached"][keep].mean()),
        "resolved": not (lo <= 1.0 <= hi_reach),
    }
