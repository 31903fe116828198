"""Speed-ups read off the confirmations (issue 31): the finalists of a search re-evaluated on
fresh seeds, in looks that grow the sample size until each comparison is decided.

A look evaluates its finalists at one seed and one n, so their bootstrap replicates pair
(``analysis.intervals``); the target is a baseline's finalist measured there, not the search's
minimum over many noisy trials (which reads optimistic: the winner's curse). Each comparison,
arm vs every baseline on every speed-up axis at each target (``targets``), is read off one
look's records alone, its interval at 1 - alpha / L (the error rate split evenly over the L
looks the rule allows: Bonferroni), and judged by ``analysis.verdicts.verdict``. A comparison
keeps the look at which it was decided, else takes its arm's last look (``merge_looks``). The
looks' records carry the rule (``rule``).

Finalists (``finalists``): every trial a search speed-up was read at, on both sides (every
baseline, target and axis), and every arm's best trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.cost_axes import SPEEDUP_AXES, present
from analysis.fronts import baseline_arms, iso_quality_speedup, speedups
from analysis.intervals import SPEEDUP_CI, smallest_budget
from analysis.matched import declared
from analysis.matched import finalists as matched_finalists
from analysis.measured import Points, points_for
from analysis.picks import best_by_arm, with_arrays
from analysis.trials import arm_order
from analysis.verdicts import UNDECIDED


def look_ci(looks: int, alpha: float = 1 - SPEEDUP_CI) -> float:
    """The coverage of each look's interval when ``alpha`` is split over ``looks`` looks."""
    return 1 - alpha / max(1, int(looks))


SMALL_BUDGET = 4  # NFE: the "small budget" target is each baseline's best within this many evaluations


def targets(tolerance: float, budget: float | None) -> dict[str, tuple[float, float | None]]:
    """The targets every comparison is read at: ``{name: (tolerance, budget)}``; "strict" (the
    baseline's best), "tolerant" (within ``tolerance`` of it) and "budget" (its best within
    ``budget`` NFE), the last two only where set."""
    out: dict[str, tuple[float, float | None]] = {"strict": (0.0, None)}
    if tolerance > 0:
        out["tolerant"] = (tolerance, None)
    if budget is not None:
        out["budget"] = (0.0, budget)
    return out


DECIDING = ("strict", "budget")  # the targets whose verdicts the looks try to decide


def finalists(trials: pd.DataFrame, metric: str, tolerance: float = 0.0,
              budget: float | None = SMALL_BUDGET) -> dict[str, list[Any]]:
    """``{arm: [search trial, ...]}`` to confirm, the baselines first, then arm order: every
    trial a speed-up vs any baseline was read at (both sides, every target and axis), and
    every arm's best trial. A study comparing at matched settings (`sweep.matched_on`) re-runs
    its matched comparisons instead (``analysis.matched.finalists``)."""
    primary, baselines = baseline_arms(trials)
    if primary is None:
        return {}
    if declared(trials):  # a matched study re-runs its matched comparisons (analysis.matched)
        return matched_finalists(trials, metric)
    picks = best_by_arm(trials, metric)
    out: dict[str, list[Any]] = {b: [] for b in baselines}
    for tol, cap in targets(tolerance, budget).values():
        for axis in present(trials, SPEEDUP_AXES):
            for base, per_arm in speedups(trials, metric, axis, tol, cap).items():
                for arm, result in per_arm.items():
                    out.setdefault(arm, [])
                    for key, who in (("baseline_trial", base), ("method_trial", arm)):
                        if result.get(key) is not None and result[key] not in out[who]:
                            out[who].append(result[key])
    for arm in arm_order(trials):
        if arm in picks:
            best = picks[arm]["trial"]
            out.setdefault(arm, [])
            if best not in out[arm]:
                out[arm].insert(0, best)
    return {arm: trials_ for arm, trials_ in out.items() if trials_}


def confirmation_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The COMPLETE confirmation records of a run (every look) as a frame like the trials',
    with ``look`` filled (1 for confirmations written before looks existed)."""
    rows = [with_arrays(row) for row in trials.attrs.get("confirmations") or [] if row.get("state") == "COMPLETE"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["look"] = pd.to_numeric(frame["look"], errors="coerce").fillna(1).astype(int)
    return frame


def _points(rows: pd.DataFrame, search: pd.DataFrame, metric: str, axis: str) -> Points:
    """One arm's confirmed points; "smallest budget" is the search grid's, not the finalists'."""
    points = points_for(rows, metric, axis)
    grid = points_for(search, metric, axis)
    at_smallest = dict(zip(grid.trial.tolist(), smallest_budget(grid).tolist(), strict=True))
    smallest = np.array([at_smallest.get(t, False) for t in points.trial.tolist()], dtype=bool)
    return Points(**{**points.__dict__, "smallest": smallest})


def look_speedups(trials: pd.DataFrame, rows: pd.DataFrame, metric: str, look: int, ci: float,
                  tolerance: float = 0.0, budget: float | None = None) -> dict[str, dict[str, Any]]:
    """``{axis: {baseline: {arm: result}}}`` from look ``look``'s confirmations
    (``iso_quality_speedup``'s dict plus ``look`` and ``n_samples``), against every baseline
    evaluated at that look (restricted to ``budget`` NFE when set); arms without a
    confirmation at that look are left out."""
    _, baselines = baseline_arms(trials)
    at = rows.loc[rows["look"] == look] if not rows.empty else rows
    if at.empty:
        return {}
    n = int(at["n_samples"].iloc[0])
    out: dict[str, dict[str, Any]] = {}
    for axis in present(trials, SPEEDUP_AXES):
        points = {arm: _points(at.loc[at["arm"] == arm], trials.loc[trials["arm"] == arm], metric, axis)
                  for arm in arm_order(trials) if (at["arm"] == arm).any()}
        for base in baselines:
            if base not in points:
                continue
            for arm, pts in points.items():
                if arm != base:
                    result = iso_quality_speedup(points[base].within(budget), pts, ci=ci, tolerance=tolerance)
                    out.setdefault(axis, {}).setdefault(base, {})[arm] = result | {"look": look, "n_samples": n}
    return out


def open_arms(results: list[dict[str, dict[str, Any]]], baselines: list[str]) -> list[str]:
    """The non-baseline arms with a comparison still undecided in any of ``results``
    (``look_speedups``' dicts, one per deciding target). A comparison without an interval (no
    baseline point at that target, e.g. none within the small budget, or no finite cost on an
    axis) has no verdict to wait for and does not hold an arm open."""
    out: dict[str, None] = {}
    for by_axis in results:
        for per_base in by_axis.values():
            for per_arm in per_base.values():
                for arm, r in per_arm.items():
                    if arm not in baselines and (r.get("verdict") or {}).get("word") == UNDECIDED:
                        out[arm] = None
    return list(out)


def merge_looks(into: dict[str, Any], by_axis: dict[str, Any]) -> None:
    """Add a later look's results, comparison by comparison: a comparison decided at an earlier
    look keeps that result (it stopped there: later looks re-run fewer of the arm's trials, for
    its other comparisons), an undecided one takes the later look's."""
    for axis, per_base in by_axis.items():
        for base, per_arm in per_base.items():
            kept = into.setdefault(axis, {}).setdefault(base, {})
            for arm, result in per_arm.items():
                if (kept.get(arm, {}).get("verdict") or {}).get("word") in (None, UNDECIDED):
                    kept[arm] = result


def confirmed_speedups(trials: pd.DataFrame, metric: str, tolerance: float = 0.0,
                       budget: float | None = SMALL_BUDGET) -> dict[str, Any]:
    """summary.json's ``confirmed``: for each target (``speedup_by_axis`` strict,
    ``speedup_tolerant_by_axis``, ``speedup_budget_by_axis``) each comparison's result at its
    arm's last look, the looks (n, arms, seconds), where each arm stopped and why, and the
    rule; {} without looks."""
    rows = confirmation_rows(trials)
    primary, baselines = baseline_arms(trials)
    if rows.empty or primary is None or "rule" not in rows:
        return {}
    rule = next((r for r in rows["rule"] if isinstance(r, dict)), None)
    if rule is None:  # confirmations from before looks: the tables keep the search's speed-ups
        return {}
    ci = look_ci(rule["looks"], rule["alpha"])
    named = targets(tolerance, budget)
    merged: dict[str, dict[str, Any]] = {name: {} for name in named}
    looks, last = [], {}
    for look in sorted(rows["look"].unique()):
        at = rows.loc[rows["look"] == look]
        looks.append({"look": int(look), "n_samples": int(at["n_samples"].iloc[0]),
                      "arms": list(dict.fromkeys(at["arm"])), "records": int(len(at)),
                      "seconds": float(pd.to_numeric(at.get("seconds"), errors="coerce").sum())})
        for arm in at["arm"]:
            last[arm] = int(look)
        for name, (tol, cap) in named.items():
            merge_looks(merged[name], look_speedups(trials, rows, metric, int(look), ci, tol, cap))
    undecided = open_arms([merged[t] for t in DECIDING if t in merged], baselines)
    failed = {row["arm"]: int(row.get("look") or 1) for row in trials.attrs.get("confirmations") or []
              if row.get("state") != "COMPLETE" and row.get("rule") == rule}
    stopped = {}
    for arm, k in last.items():
        if arm in baselines:
            continue
        if failed.get(arm, 0) > k:
            why = f"failed at look {failed[arm]}"
        elif arm not in undecided:
            why = "decided"
        else:
            why = "cap: looks" if k >= rule["looks"] else "cap: budget or samples"
        stopped[arm] = {"look": k, "why": why}
    return {"baseline": primary, "rule": rule, "ci": ci, "looks": looks, "stopped": stopped,
            "budget": budget if "budget" in named else None,
            "speedup_by_axis": merged["strict"],
            "speedup_tolerant_by_axis": merged.get("tolerant", {}),
            "speedup_budget_by_axis": merged.get("budget", {}),
            "search_seconds": float(pd.to_numeric(trials.get("seconds"), errors="coerce").sum())}
