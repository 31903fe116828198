"""Pareto fronts and speed-up at iso-quality (DESIGN.md, "Speed-up at iso-quality").

Fronts: (cost, quality) points, both minimised. Speed-up: target = the baseline's best
quality (its point estimate). Each side's cost is read off its own measured points: the
cheapest trial whose quality is at or below the target. No interpolation, no
extrapolation; the edge cases are words, not numbers. Every speed-up also gets an interval
over the paired bootstrap replicates (``analysis.intervals``): the target moves with the
baseline, replicate by replicate. Baselines are the arms whose records
say ``role: baseline``, the primary one the arm the records declare (``primary_baseline``);
the speed-up-vs-t0 curve covers the arms with role ``method`` that
declare ``method.t0`` among their knobs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.intervals import SPEEDUP_CI, smallest_budget, speedup_interval, tolerant
from analysis.measured import Points, points_for
from analysis.trials import arm_knobs, arm_order, arm_roles, complete_trials
from analysis.verdicts import UNDECIDED, samples_to_decide, verdict

NEVER_REACHES = "never_reaches"
DRAFTER_SUFFICES = "drafter_suffices"
LOWER_BOUND = "lower_bound"
OK = "ok"
NO_BASELINE = "no_baseline"  # the baseline has no finite quality, so there is no target


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


def iso_quality_speedup(baseline: Points, method: Points, ci: float = SPEEDUP_CI,
                        tolerance: float = 0.0) -> dict[str, Any]:
    """Speed-up of ``method`` over ``baseline`` at the baseline's best quality (point estimate).

    Returns ``{status, value, text, target, baseline_cost, method_cost, method_trial,
    baseline_trial, interval, display, verdict}``; status is ``ok`` ("8.0x"), ``lower_bound`` ("≥
    8.0x": the method meets the target at the smallest cost on its grid),
    ``drafter_suffices`` (the cheapest trial meeting the target is the drafter alone: role
    drafter, no refiner evaluation), ``never_reaches`` or ``no_baseline``. ``value`` is
    baseline_cost / method_cost, or None when the status is a word. ``interval`` is
    :func:`analysis.intervals.speedup_interval`; ``display`` = "8.0x [5.1, 12.3]";
    ``verdict`` = ``{"word": faster | slower | never | undecided | None, "to_decide": ...}``
    (``analysis.verdicts``; ``to_decide`` is the power estimate of an undecided one). With
    ``tolerance`` > 0 the target is within that fraction of the baseline's best.
    """
    result = _point_speedup(baseline, method, tolerance)
    if result["status"] != NO_BASELINE:
        result["interval"] = speedup_interval(baseline, method, ci, tolerance)
    else:
        result["interval"] = {"ci": ci, "n_boot": 0, "text": None, "why": "no baseline"}
    bracket = result["interval"]["text"]
    result["display"] = f"{result['text']} {bracket}" if bracket else result["text"]
    word = verdict(result["interval"])
    result["verdict"] = {"word": word, "to_decide": None}
    pairing = baseline.pairing if isinstance(baseline.pairing, tuple) and len(baseline.pairing) == 2 else None
    if word == UNDECIDED and pairing and pairing[1]:
        result["verdict"]["to_decide"] = samples_to_decide(
            baseline, method, lambda qb: tolerant(qb.min(axis=0), tolerance), int(pairing[1]), ci)
    return result


def _point_speedup(baseline: Points, method: Points, tolerance: float = 0.0) -> dict[str, Any]:
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
    # No CI half-width added: the interval, not a looser target, carries the uncertainty.
    target = float(tolerant(baseline.quality[int(np.argmin(ranked))], tolerance))
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
    if method.drafter[hit]:
        return _result(DRAFTER_SUFFICES, None, "drafter suffices", **common)
    if method.cost[hit] <= 0:  # a zero measured cost with refiner calls: no finite ratio
        return _result(OK, None, "n/a", **common)
    value = float(baseline.cost[base_at] / method.cost[hit])
    # "Smallest budget on the grid" is judged on NFE when known: on the wall-clock axis,
    # timing noise would otherwise hide that the hit sits at the grid's cheapest setting.
    if smallest_budget(method)[hit]:
        return _result(LOWER_BOUND, value, f"≥ {value:.1f}x", **common)
    return _result(OK, value, f"{value:.1f}x", **common)


def baseline_arms(trials: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(primary baseline, all baselines): the arms whose records have role ``baseline``, in
    arm order. Primary = the baseline arm the records declare (``primary_baseline``: the
    study says which baseline the headline speed-ups are against), else the first."""
    roles = arm_roles(trials)
    baselines = [a for a in arm_order(trials) if roles[a] == "baseline"]
    declared = trials["primary_baseline"].dropna() if "primary_baseline" in trials else []
    named = [a for a in declared if a in baselines]
    primary = named[0] if named else (baselines[0] if baselines else None)
    return primary, baselines


def t0_arms(trials: pd.DataFrame) -> list[str]:
    """Arms with role ``method`` whose knobs include ``method.t0`` (never baselines or
    drafters, whose t0 is fixed): the arms of the speed-up-vs-t0 figure."""
    roles, knobs = arm_roles(trials), arm_knobs(trials)
    return [a for a in arm_order(trials) if roles[a] == "method" and "method.t0" in knobs[a]]


def speedups(trials: pd.DataFrame, metric: str, cost_axis: str, tolerance: float = 0.0,
             budget: float | None = None) -> dict[str, dict[str, Any]]:
    """``{baseline_arm: {arm: result}}`` for every baseline (role ``baseline``) and every other
    arm; ``tolerance``: the target within that fraction of the baseline's best; ``budget``: the
    baseline's trials at most that many NFE only (its best at a small budget is the target)."""
    _, baselines = baseline_arms(trials)
    by_arm = {
        arm: points_for(trials.loc[trials["arm"] == arm], metric, cost_axis)
        for arm in arm_order(trials)
    }
    return {
        base: {
            arm: iso_quality_speedup(by_arm[base].within(budget), pts, tolerance=tolerance)
            for arm, pts in by_arm.items()
            if arm != base
        }
        for base in baselines
    }


def speedup_vs_t0(
    trials: pd.DataFrame, metric: str, cost_axis: str, baseline: str
) -> dict[str, list[dict[str, Any]]]:
    """Per arm of ``t0_arms``: the speed-up vs ``baseline`` using only the trials at each t0
    (``params["method.t0"]``), as ``{arm: [{"t0": t0, **result}, ...]}`` sorted by t0."""
    base = points_for(trials.loc[trials["arm"] == baseline], metric, cost_axis)
    out: dict[str, list[dict[str, Any]]] = {}
    done = complete_trials(trials)  # a t0 whose trials all failed gets no point at all
    for arm in t0_arms(trials):
        rows = done.loc[(done["arm"] == arm) & done["t0"].notna()]
        if arm == baseline or rows.empty:
            continue
        out[arm] = [
            {"t0": float(t0)} | iso_quality_speedup(base, points_for(group, metric, cost_axis))
            for t0, group in rows.groupby("t0", sort=True)
        ]
    return out


def pareto_front(costs: Sequence[float], qualities: Sequence[float]) -> np.ndarray:
    """Indices of the non-dominated points, sorted by increasing cost.

    Both cost and quality (a distance) are minimised. A point is kept only if it is strictly
    better in quality than every cheaper-or-equal point already kept, so among exact ties
    (same cost and quality) only the lowest index survives, and at equal cost only the best
    quality. Points with a NaN or infinite coordinate are ignored.

    >>> pareto_front([1, 2, 3], [0.5, 0.6, 0.1]).tolist()
    [0, 2]
    """
    cost = np.asarray(costs, dtype=float)
    quality = np.asarray(qualities, dtype=float)
    if cost.shape != quality.shape or cost.ndim != 1:
        raise ValueError(
            f"costs and qualities must be 1-D of equal length, got {cost.shape} and {quality.shape}"
        )
    finite = np.flatnonzero(np.isfinite(cost) & np.isfinite(quality))
    # lexsort sorts by the last key first: cost, then quality, then index (deterministic ties).
    order = finite[np.lexsort((finite, quality[finite], cost[finite]))]
    front: list[int] = []
    best = np.inf
    for i in order:
        if quality[i] < best:
            front.append(int(i))
            best = quality[i]
    return np.asarray(front, dtype=int)


def arm_fronts(trials: pd.DataFrame, metric: str, cost_axis: str) -> dict[str, pd.DataFrame]:
    """Per arm, its COMPLETE trials on the (``cost_axis``, ``q.<metric>``) front, cheapest first.

    Arms without a single finite point map to an empty frame (kept so tables list them).
    """
    done = complete_trials(trials)
    fronts = {}
    for arm in arm_order(trials):
        rows = done.loc[done["arm"] == arm]
        idx = (
            pareto_front(
                rows[cost_axis].to_numpy(dtype=float), rows[f"q.{metric}"].to_numpy(dtype=float)
            )
            if len(rows)
            else []
        )
        fronts[arm] = rows.iloc[idx]
    return fronts
