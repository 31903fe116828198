"""Speed-ups read off the confirmations (issue 31): the finalists of a search re-evaluated on
fresh seeds, in looks that grow the sample size until each comparison is decided.

A look evaluates its finalists at one seed and one n, so their bootstrap replicates pair
(``analysis.intervals``); the target is the primary baseline's finalist measured there, not the
search's minimum over many noisy trials (which reads optimistic: the winner's curse). Each
comparison, arm vs the primary baseline on every speed-up axis, is read off that look's
records alone, its interval at 1 - alpha / L (the error rate split evenly over the L looks the
rule allows: Bonferroni, valid whatever n each look picks), and judged by
``analysis.verdicts.verdict``. An arm's confirmed result is that of the last look it was
evaluated at together with the baseline. The looks' records carry the rule (``rule``).

Finalists (``finalists``): for each arm, the trial each search speed-up was read at (strict
and tolerant targets, every axis) and its best trial; for the primary baseline, its best trial
and the trials its tolerant targets are read at.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.cost_axes import SPEEDUP_AXES
from analysis.fronts import baseline_arms, iso_quality_speedup, speedups
from analysis.intervals import SPEEDUP_CI, smallest_budget
from analysis.measured import Points, points_for
from analysis.picks import best_by_arm
from analysis.trials import arm_order
from analysis.verdicts import FASTER, NEVER, SLOWER

DECIDED = (FASTER, SLOWER, NEVER)


def look_ci(looks: int, alpha: float = 1 - SPEEDUP_CI) -> float:
    """The coverage of each look's interval when ``alpha`` is split over ``looks`` looks."""
    return 1 - alpha / max(1, int(looks))


def finalists(trials: pd.DataFrame, metric: str, tolerance: float = 0.0) -> dict[str, list[Any]]:
    """``{arm: [search trial, ...]}`` to confirm, the primary baseline first, then arm order."""
    primary, _ = baseline_arms(trials)
    if primary is None:
        return {}
    picks = best_by_arm(trials, metric)
    out: dict[str, list[Any]] = {primary: []}
    for tol in dict.fromkeys([0.0, tolerance]):
        for axis in SPEEDUP_AXES:
            for arm, result in speedups(trials, metric, axis, tol).get(primary, {}).items():
                out.setdefault(arm, [])
                for key, who in (("baseline_trial", primary), ("method_trial", arm)):
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
    rows = [
        {k: np.asarray(v, dtype=float) if (k.startswith("boot.") or k == "wallclock_runs") and isinstance(v, tuple)
         else v for k, v in row.items()}
        for row in trials.attrs.get("confirmations") or [] if row.get("state") == "COMPLETE"
    ]
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
                  tolerance: float = 0.0) -> dict[str, dict[str, Any]]:
    """``{axis: {arm: result}}`` vs the primary baseline from look ``look``'s confirmations
    (``iso_quality_speedup``'s dict plus ``look`` and ``n_samples``); arms without a
    confirmation at that look, or a look without the baseline, are left out."""
    primary, _ = baseline_arms(trials)
    at = rows.loc[rows["look"] == look] if not rows.empty else rows
    if primary is None or at.empty or not (at["arm"] == primary).any():
        return {}
    n = int(at["n_samples"].iloc[0])
    out: dict[str, dict[str, Any]] = {}
    for axis in SPEEDUP_AXES:
        base = _points(at.loc[at["arm"] == primary], trials.loc[trials["arm"] == primary], metric, axis)
        for arm in arm_order(trials):
            mine = at.loc[at["arm"] == arm]
            if arm == primary or mine.empty:
                continue
            pts = _points(mine, trials.loc[trials["arm"] == arm], metric, axis)
            result = iso_quality_speedup(base, pts, ci=ci, tolerance=tolerance)
            out.setdefault(axis, {})[arm] = result | {"look": look, "n_samples": n}
    return out


def open_arms(by_axis: dict[str, dict[str, Any]]) -> list[str]:
    """Arms some axis of which is not decided (faster, slower or never) at this look."""
    arms = dict.fromkeys(arm for per_arm in by_axis.values() for arm in per_arm)
    return [a for a in arms if any((by_axis[ax].get(a, {}).get("verdict") or {}).get("word") not in DECIDED
                                   for ax in by_axis if a in by_axis[ax])]


def confirmed_speedups(trials: pd.DataFrame, metric: str, tolerance: float = 0.0) -> dict[str, Any]:
    """summary.json's ``confirmed``: per axis each arm's result at its last look (strict and
    tolerant targets), the looks (n, arms, seconds) and the rule, or {} without looks."""
    rows = confirmation_rows(trials)
    primary, _ = baseline_arms(trials)
    if rows.empty or primary is None or "rule" not in rows:
        return {}
    rule = next((r for r in rows["rule"] if isinstance(r, dict)), None)
    if rule is None:  # confirmations from before looks: the tables keep the search's speed-ups
        return {}
    ci = look_ci(rule["looks"], rule["alpha"])
    strict: dict[str, dict[str, Any]] = {}
    loose: dict[str, dict[str, Any]] = {}
    looks = []
    for look in sorted(rows["look"].unique()):
        at = rows.loc[rows["look"] == look]
        looks.append({"look": int(look), "n_samples": int(at["n_samples"].iloc[0]),
                      "arms": list(dict.fromkeys(at["arm"])), "records": int(len(at)),
                      "seconds": float(pd.to_numeric(at.get("seconds"), errors="coerce").sum())})
        for target, into in ((0.0, strict), (tolerance, loose)):
            if target == tolerance and tolerance <= 0:
                continue
            for axis, per_arm in look_speedups(trials, rows, metric, int(look), ci, target).items():
                into.setdefault(axis, {}).update(per_arm)  # a later look replaces an earlier one
    stopped = {}
    for arm in dict.fromkeys(a for per_arm in strict.values() for a in per_arm):
        last = max(strict[ax][arm]["look"] for ax in strict if arm in strict[ax])
        undecided = arm in open_arms({ax: {arm: strict[ax][arm]} for ax in strict if arm in strict[ax]})
        why = "decided" if not undecided else ("cap: looks" if last >= rule["looks"] else "cap: budget or samples")
        stopped[arm] = {"look": last, "why": why}
    return {"baseline": primary, "rule": rule, "ci": ci, "looks": looks, "stopped": stopped,
            "speedup_by_axis": {ax: {primary: per_arm} for ax, per_arm in strict.items()},
            "speedup_tolerant_by_axis": {ax: {primary: per_arm} for ax, per_arm in loose.items()},
            "search_seconds": float(pd.to_numeric(trials.get("seconds"), errors="coerce").sum())}
