"""summary.json's content: fronts, speed-ups and best settings of one run folder."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.confirmed import SMALL_BUDGET, confirmed_speedups
from analysis.cost_axes import AXIS_SHORT, SPEEDUP_AXES, present
from analysis.counters import counter_names, counters_of
from analysis.evaluators import distinct_evaluators
from analysis.fronts import arm_fronts, baseline_arms, speedup_vs_t0, speedups
from analysis.labels import metric_label, short_label
from analysis.picks import best_by_arm, confirmation_of
from analysis.trials import (
    arm_knobs,
    arm_order,
    arm_roles,
    complete_trials,
    higher_is_better,
    knob_columns,
    metrics_of,
)


def strict(value: Any) -> Any:
    """Make a structure strict-JSON-safe: NaN/inf to None, numpy to Python, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def diversity_metrics(trials: pd.DataFrame, metric: str) -> list[str]:
    """The metrics the track declared higher-is-better (text: entropy, distinct-n), ``metric``
    left out, in record order: reported beside the front metric, never ranked on."""
    return [m for m in metrics_of(trials) if m != metric and higher_is_better(trials, m)]


def _value(row: pd.Series, column: str) -> Any:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def diversity_of(row: pd.Series, metrics: list[str]) -> dict[str, Any]:
    """``{"entropy": v, "entropy_ci": [lo, hi], ...}`` of one trial (the record's format)."""
    out: dict[str, Any] = {}
    for m in metrics:
        out[m] = _value(row, f"q.{m}")
        out[f"{m}_ci"] = [_value(row, f"q.{m}_lo"), _value(row, f"q.{m}_hi")]
    return out


def front_diversity(
    fronts: dict[str, pd.DataFrame], metrics: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per arm, one entry per front point, in the order of summary.json's ``front`` (cheapest
    first): ``{"trial": n, "entropy": v, "entropy_ci": [lo, hi], ...}``; {} without metrics."""
    if not metrics:
        return {}
    return {
        arm: [{"trial": row["trial"], **diversity_of(row, metrics)} for _, row in front.iterrows()]
        for arm, front in fronts.items()
    }


def _front_pairs(fronts: dict[str, pd.DataFrame], metric: str, axis: str) -> dict[str, list]:
    return {
        arm: rows[[axis, f"q.{metric}"]].to_numpy(dtype=float).tolist()
        for arm, rows in fronts.items()
    }


def _best_quality(trials: pd.DataFrame, metric: str, diversity: list[str]) -> dict[str, Any]:
    """Per arm its best setting's quality: from its confirmation on fresh seeds when the sweep
    ran one (a best picked among many reads low: the winner's curse), else from the search;
    ``search`` keeps the search trial's value, ``confirmed`` the confirmation's seed. Each
    (and the shown point) carries the method's ``counters`` at that trial ({} without)."""
    done = complete_trials(trials)
    picks = best_by_arm(trials, metric)
    counters = counter_names(trials)
    best: dict[str, Any] = {}
    for arm in arm_order(trials):
        row = picks.get(arm)
        if row is None:
            best[arm] = None
            continue
        again = confirmation_of(trials, arm, row["trial"])
        shown = again if again is not None else row
        best[arm] = {
            "value": shown.get(f"q.{metric}"),
            "lo": shown.get(f"q.{metric}_lo"),
            "hi": shown.get(f"q.{metric}_hi"),
            "trial": row["trial"],
            "floor": done.loc[done["arm"] == arm, f"floor.{metric}"].median(),
            "knobs": {k: row.get(f"param.{k}") for k in row["knobs"]},
            "counters": counters_of(shown, counters),
            "search": {
                "value": row[f"q.{metric}"],
                "lo": row.get(f"q.{metric}_lo"),
                "hi": row.get(f"q.{metric}_hi"),
                "seed": row.get("seed"),
                "counters": counters_of(row, counters),
            },
            "confirmed": (
                {"seed": again.get("seed"), "counters": counters_of(again, counters)}
                if again is not None
                else None
            ),
        }
        if diversity:  # e.g. text: how diverse the best-PPL samples are
            best[arm]["diversity"] = diversity_of(shown, diversity)
    return best


def uncertainty(by_axis: dict[str, Any], n_samples: list[int],
                remedy: str = "raise eval.n_samples to narrow them") -> dict[str, Any]:
    """Which speed-ups the experiment cannot resolve: those whose interval contains 1
    (``resolved`` False), as ``{"unresolved": ["arm vs baseline (axis)", ...], "text": ...}``;
    the text says so and that ``eval.n_samples`` can be raised. Empty text when all resolve."""
    unresolved, missing, to_decide = [], 0, {}
    for axis, per_base in by_axis.items():
        for base, per_arm in per_base.items():
            for arm, result in per_arm.items():
                interval = result.get("interval") or {}
                if result.get("status") == "no_baseline":
                    continue
                if not interval.get("n_boot"):
                    missing += 1
                elif not interval.get("resolved", True):
                    name = f"{arm} vs {base} ({AXIS_SHORT.get(axis, axis)})"
                    unresolved.append(name)
                    power = (result.get("verdict") or {}).get("to_decide") or {}
                    to_decide[name] = power.get("n")
    n = ", ".join(str(v) for v in n_samples) or "—"
    text = ""
    if unresolved:
        named = [f"{u}: ≈ {to_decide[u]:,} samples" if to_decide.get(u) else u for u in unresolved]
        text = (
            f"{len(unresolved)} speed-up(s) have a 95% interval that contains 1 (undecided): at n = {n} "
            f"samples per trial the CIs are wider than the differences reported "
            f"({'; '.join(named)}); {remedy} (the sample counts that "
            f"would decide each are a power estimate: the method's deciding trial against the "
            f"target, its mean difference held fixed and its bootstrap SD shrinking as 1/sqrt(n))."
        )
    if missing:
        text += (" " if text else "") + (
            f"{missing} speed-up(s) have no interval (no paired bootstrap replicates)."
        )
    return {"unresolved": unresolved, "to_decide": to_decide, "n_missing_interval": missing, "text": text}


def timing_load(done: pd.DataFrame) -> dict[str, Any]:
    """Trials whose timed runs overlapped other wsbench processes computing on their host
    (workers sharing the cores): their wall-clock is not comparable with trials timed alone."""
    others = pd.to_numeric(done.get("others_computing", pd.Series(dtype=float)), errors="coerce")
    loaded = done.loc[others > 0]
    return {"n_under_load": int(len(loaded)), "arms": sorted(loaded["arm"].unique().tolist()),
            "max_others": int(others.max()) if others.notna().any() else 0}


DEFAULT_TOLERANCE = 0.01  # MLPerf Inference's "99% of the reference": a column beside the strict target


def verdict_table(by_axis: dict[str, Any]) -> dict[str, dict[str, dict[str, str | None]]]:
    """``{baseline: {arm: {axis: verdict}}}``: the verdict words of every comparison."""
    out: dict[str, dict[str, dict[str, str | None]]] = {}
    for axis, per_base in by_axis.items():
        for base, per_arm in per_base.items():
            for arm, result in per_arm.items():
                word = (result.get("verdict") or {}).get("word")
                out.setdefault(base, {}).setdefault(arm, {})[axis] = word
    return out


def _with_verdicts(confirmed: dict[str, Any]) -> dict[str, Any]:
    if confirmed:
        confirmed["verdicts"] = verdict_table(confirmed["speedup_by_axis"])
        confirmed["verdicts_tolerant"] = verdict_table(confirmed["speedup_tolerant_by_axis"])
        confirmed["verdicts_budget"] = verdict_table(confirmed["speedup_budget_by_axis"])
        # The undecided ones at both deciding targets (the small budget's named as such).
        deciding = {axis: dict(per_base) for axis, per_base in confirmed["speedup_by_axis"].items()}
        label = f" at ≤ {confirmed['budget']:g} NFE" if confirmed.get("budget") is not None else ""
        for axis, per_base in confirmed["speedup_budget_by_axis"].items():
            for base, per_arm in per_base.items():
                deciding.setdefault(axis, {})[f"{base}{label}"] = per_arm
        ns = sorted({r["n_samples"] for per in deciding.values() for per_arm in per.values() for r in per_arm.values()})
        confirmed["uncertainty"] = uncertainty(
            deciding, ns, "raise sweep.confirm_budget or sweep.confirm_looks (in a new run folder) to let the "
            "confirmations go further")
        confirmed["uncertainty"]["text"] = confirmed["uncertainty"]["text"].replace(
            "have a 95% interval", f"have a {confirmed['ci'] * 100:.1f}% confirmed interval")
    return confirmed


def build_summary(trials: pd.DataFrame, metric: str, cost_axis: str,
                  tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The summary.json content (before strict-JSON cleaning) for one metric and cost axis;
    ``tolerance``: the loose target's fraction (0 leaves the tolerant speed-ups out)."""
    done = complete_trials(trials)
    arms = arm_order(trials)
    primary, baselines = baseline_arms(trials)
    speedup_axes = present(trials, SPEEDUP_AXES)
    axes = list(dict.fromkeys([*speedup_axes, cost_axis]))
    fronts = {axis: arm_fronts(trials, metric, axis) for axis in axes}
    by_axis = {axis: speedups(trials, metric, axis) for axis in axes}
    tolerant = {axis: speedups(trials, metric, axis, tolerance) for axis in axes} if tolerance > 0 else {}
    small = {axis: speedups(trials, metric, axis, budget=SMALL_BUDGET) for axis in axes}
    floors = {m: done[f"floor.{m}"].median() for m in metrics_of(trials)}
    study = trials["study"].dropna()
    evaluators = distinct_evaluators(trials)
    info = trials.attrs.get("metric_info", {})
    diversity = diversity_metrics(trials, metric)
    n_samples = sorted({int(v) for v in pd.to_numeric(trials["n_samples"], errors="coerce").dropna()})
    return {
        "study": study.iloc[0] if len(study) else None,
        "track": trials.attrs.get("track"),
        "metric": metric,
        "metric_label": metric_label(metric, info, evaluators),
        "metric_info": {
            m: info.get(m, {"label": short_label(m, info)}) for m in metrics_of(trials)
        },
        "evaluators": evaluators,  # the distinct evaluator models behind the metrics
        "n_samples": n_samples,
        "cost_axis": cost_axis,
        "speedup_axes": list(speedup_axes),  # the tables' axes: SPEEDUP_AXES and any optional one measured
        "baseline": primary,
        "baselines": baselines,
        "roles": arm_roles(trials),
        "knobs": knob_columns(trials),
        "arm_knobs": arm_knobs(trials),
        "counters": counter_names(trials),  # the methods' own cost counters, by name
        "reference_floor": floors,
        "front": _front_pairs(fronts[cost_axis], metric, cost_axis),
        "fronts_by_axis": {axis: _front_pairs(fronts[axis], metric, axis) for axis in axes},
        # Higher-is-better metrics (text: entropy/distinct-n) at each point of `front`.
        "diversity_metrics": diversity,
        "front_diversity": front_diversity(fronts[cost_axis], diversity),
        "front_diversity_by_axis": {
            axis: front_diversity(fronts[axis], diversity) for axis in axes
        },
        "speedup_at_iso_quality": by_axis[cost_axis],
        "speedup_by_axis": by_axis,
        "uncertainty": uncertainty(by_axis, n_samples),
        # The headline target is strict (the baseline's best); the tolerant one is its best
        # loosened by `target_tolerance` (a fraction), so a reader sees how verdicts depend on it.
        "verdicts": verdict_table(by_axis),
        "target_tolerance": tolerance,
        "speedup_tolerant_by_axis": tolerant,
        "verdicts_tolerant": verdict_table(tolerant),
        # Each baseline's best within SMALL_BUDGET NFE as the target: does a method beat the
        # baseline where both are cheap (digits: at most 4 evaluations)?
        "small_budget": SMALL_BUDGET,
        "speedup_budget_by_axis": small,
        "verdicts_budget": verdict_table(small),
        # The finalists re-evaluated on fresh seeds in looks (sweeps.confirm): where present,
        # the headline speed-ups and verdicts ({} when the sweep ran no looks).
        "confirmed": _with_verdicts(confirmed_speedups(trials, metric, tolerance)),
        "speedup_vs_t0": speedup_vs_t0(trials, metric, cost_axis, primary) if primary else {},
        "best_quality": _best_quality(trials, metric, diversity),
        "timing_load": timing_load(done),
        "n_trials": {arm: int((trials["arm"] == arm).sum()) for arm in arms},
        "n_complete": {arm: int((done["arm"] == arm).sum()) for arm in arms},
        "n_failed": {
            arm: int(((trials["arm"] == arm) & (trials["state"] == "FAIL")).sum()) for arm in arms
        },
    }
