"""Speed-up at iso-quality (DESIGN.md, "Speed-up at iso-quality").

target = the baseline's best quality + the half-width of that trial's CI. Each side's cost
is read off its own measured points: the cheapest trial whose quality is at or below the
target. No interpolation, no extrapolation; the edge cases are words, not numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.load import COST_AXES, arm_order, complete_trials

NEVER_REACHES = "never_reaches"
DRAFTER_SUFFICES = "drafter_suffices"
LOWER_BOUND = "lower_bound"
OK = "ok"
NO_BASELINE = "no_baseline"  # the baseline has no finite quality, so there is no target


@dataclass(frozen=True)
class Points:
    """Measured trials of one arm on one metric and one cost axis (equal-length arrays)."""

    cost: np.ndarray
    quality: np.ndarray
    quality_lo: np.ndarray
    quality_hi: np.ndarray
    nfe: np.ndarray
    trial: np.ndarray

    @classmethod
    def of(
        cls,
        cost: ArrayLike,
        quality: ArrayLike,
        *,
        lo: ArrayLike | None = None,
        hi: ArrayLike | None = None,
        nfe: ArrayLike | None = None,
        trial: ArrayLike | None = None,
    ) -> Points:
        """Build from sequences; missing CI bounds are NaN, missing nfe equals cost, trial = index."""
        cost = np.asarray(cost, dtype=float)
        n = len(cost)
        nan = np.full(n, np.nan)
        return cls(
            cost=cost,
            quality=np.asarray(quality, dtype=float),
            quality_lo=nan if lo is None else np.asarray(lo, dtype=float),
            quality_hi=nan if hi is None else np.asarray(hi, dtype=float),
            nfe=cost if nfe is None else np.asarray(nfe, dtype=float),
            trial=np.arange(n) if trial is None else np.asarray(trial),
        )


def points_for(trials: pd.DataFrame, metric: str, cost_axis: str) -> Points:
    """The COMPLETE trials of ``trials`` (usually one arm) with a finite cost on ``cost_axis``."""
    if cost_axis not in COST_AXES:
        raise ValueError(f"cost_axis={cost_axis!r} is not one of {sorted(COST_AXES)}")
    rows = complete_trials(trials)
    rows = rows.loc[np.isfinite(rows[cost_axis].to_numpy(dtype=float))]

    def column(name: str) -> np.ndarray:
        return rows[name].to_numpy(dtype=float) if name in rows else np.full(len(rows), np.nan)

    return Points(
        cost=column(cost_axis),
        quality=column(f"q.{metric}"),
        quality_lo=column(f"q.{metric}_lo"),
        quality_hi=column(f"q.{metric}_hi"),
        nfe=column("nfe"),
        trial=rows["trial"].to_numpy(),
    )


def _cheapest(points: Points, mask: np.ndarray) -> int | None:
    """Index of the cheapest masked point; ties go to better quality, then earlier trial."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return None
    return int(idx[np.lexsort((idx, points.quality[idx], points.cost[idx]))[0]])


def _python(value: Any) -> Any:
    """numpy scalars to plain Python, NaN to None (strict JSON downstream)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _result(status: str, value: float | None, text: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "value": _python(value), "text": text} | {
        k: _python(v) for k, v in fields.items()
    }


def iso_quality_speedup(baseline: Points, method: Points) -> dict[str, Any]:
    """Speed-up of ``method`` over ``baseline`` at the baseline's best quality (+ CI half-width).

    Returns ``{status, value, text, target, baseline_cost, method_cost, method_trial,
    baseline_trial}``; status is ``ok`` ("8.0x"), ``lower_bound`` ("≥ 8.0x": the method meets
    the target at the smallest cost on its grid), ``drafter_suffices`` (the cheapest trial
    meeting the target has nfe 0), ``never_reaches`` or ``no_baseline``. ``value`` is
    baseline_cost / method_cost, or None when the status is a word.
    """
    ranked = np.where(np.isfinite(baseline.quality), baseline.quality, np.inf)
    if len(ranked) == 0 or not np.isfinite(ranked.min()):
        return _result(
            NO_BASELINE,
            None,
            "n/a",
            target=None,
            baseline_cost=None,
            method_cost=None,
            method_trial=None,
            baseline_trial=None,
        )
    best = int(np.argmin(ranked))
    half_width = (baseline.quality_hi[best] - baseline.quality_lo[best]) / 2
    # A missing CI counts as zero width: the target is then the best quality itself.
    target = baseline.quality[best] + (half_width if np.isfinite(half_width) else 0.0)
    base_at = _cheapest(baseline, baseline.quality <= target)
    common = {
        "target": target,
        "baseline_cost": baseline.cost[base_at],
        "baseline_trial": baseline.trial[base_at],
    }
    hit = _cheapest(method, method.quality <= target)
    if hit is None:
        return _result(
            NEVER_REACHES, None, "never reaches", method_cost=None, method_trial=None, **common
        )
    common |= {"method_cost": method.cost[hit], "method_trial": method.trial[hit]}
    if method.nfe[hit] == 0:
        return _result(DRAFTER_SUFFICES, None, "drafter suffices", **common)
    if method.cost[hit] <= 0:  # a zero measured cost with refiner calls: no finite ratio
        return _result(OK, None, "n/a", **common)
    value = float(baseline.cost[base_at] / method.cost[hit])
    # "Smallest budget on the grid" is judged on NFE when known: on the wall-clock axis,
    # timing noise would otherwise hide that the hit sits at the grid's cheapest setting.
    budget = method.nfe if np.isfinite(method.nfe).all() else method.cost
    if budget[hit] <= np.min(budget) or method.cost[hit] <= np.min(method.cost):
        return _result(LOWER_BOUND, value, f"≥ {value:.1f}x", **common)
    return _result(OK, value, f"{value:.1f}x", **common)


# Methods that start from pure noise: the baselines every other arm is compared with
# (``masked_dfm``: the text track's discrete flow matching from an all-mask sequence).
BASELINE_METHODS = ("noise_start", "masked_dfm")


def baseline_arms(trials: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(primary baseline, all baselines): the arms of a ``BASELINE_METHODS`` method; primary =
    independent pairing where recorded, else the first such arm."""
    firsts = trials.drop_duplicates("arm").set_index("arm")
    baselines = [a for a in arm_order(trials) if firsts.at[a, "method"] in BASELINE_METHODS]
    independent = [a for a in baselines if firsts.at[a, "pairing"] == "independent"]
    primary = independent[0] if independent else (baselines[0] if baselines else None)
    return primary, baselines


def speedups(trials: pd.DataFrame, metric: str, cost_axis: str) -> dict[str, dict[str, Any]]:
    """``{baseline_arm: {arm: result}}`` for every noise_start baseline and every other arm."""
    _, baselines = baseline_arms(trials)
    by_arm = {
        arm: points_for(trials.loc[trials["arm"] == arm], metric, cost_axis)
        for arm in arm_order(trials)
    }
    return {
        base: {
            arm: iso_quality_speedup(by_arm[base], pts)
            for arm, pts in by_arm.items()
            if arm != base
        }
        for base in baselines
    }


def speedup_vs_t0(
    trials: pd.DataFrame, metric: str, cost_axis: str, baseline: str
) -> dict[str, list[dict[str, Any]]]:
    """Per arm with a ``method.t0`` knob: the speed-up vs ``baseline`` using only the trials at
    each t0, as ``{arm: [{"t0": t0, **result}, ...]}`` sorted by t0."""
    base = points_for(trials.loc[trials["arm"] == baseline], metric, cost_axis)
    out: dict[str, list[dict[str, Any]]] = {}
    done = complete_trials(trials)  # a t0 whose trials all failed gets no point at all
    for arm in arm_order(trials):
        rows = done.loc[(done["arm"] == arm) & done["t0"].notna()]
        if arm == baseline or rows.empty:
            continue
        out[arm] = [
            {"t0": float(t0)} | iso_quality_speedup(base, points_for(group, metric, cost_axis))
            for t0, group in rows.groupby("t0", sort=True)
        ]
    return out
