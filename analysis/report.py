"""``write_report``: a run folder's summary.json, figures and tables under ``report/``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import (
    COST_AXES,
    arm_order,
    complete_trials,
    default_metric,
    load_trials,
    metrics_of,
)
from analysis.pareto import arm_fronts
from analysis.speedup import baseline_arms, speedup_vs_t0, speedups
from analysis.tables import fmt_number, fmt_quality, latex_table, markdown_table

METRIC_LABELS = {
    "sw2": "sliced W2",
    "energy": "energy distance",
    "hist_tv": "histogram TV",
    "mmd": "MMD",
    "fid": "FID",
}
FIGURE_AXES = ("nfe", "wallclock")  # fronts and speed-ups are always given on these axes
AXIS_SHORT = {"nfe": "NFE", "wallclock": "wall-clock", "flops": "FLOPs"}


def _strict(value: Any) -> Any:
    """Make a structure strict-JSON-safe: NaN/inf to None, numpy to Python, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _front_pairs(fronts: dict[str, pd.DataFrame], metric: str, axis: str) -> dict[str, list]:
    return {
        arm: rows[[axis, f"q.{metric}"]].to_numpy(dtype=float).tolist()
        for arm, rows in fronts.items()
    }


def _best_quality(done: pd.DataFrame, arms: list[str], metric: str) -> dict[str, Any]:
    best = {}
    for arm in arms:
        rows = done.loc[(done["arm"] == arm) & done[f"q.{metric}"].notna()]
        if rows.empty:
            best[arm] = None
            continue
        row = rows.sort_values([f"q.{metric}", "nfe"], kind="stable").iloc[0]
        best[arm] = {
            "value": row[f"q.{metric}"],
            "lo": row.get(f"q.{metric}_lo"),
            "hi": row.get(f"q.{metric}_hi"),
            "trial": row["trial"],
            "floor": rows[f"floor.{metric}"].median() if f"floor.{metric}" in rows else None,
        }
    return best


def build_summary(trials: pd.DataFrame, metric: str, cost_axis: str) -> dict[str, Any]:
    """The summary.json content (before strict-JSON cleaning) for one metric and cost axis."""
    done = complete_trials(trials)
    arms = arm_order(trials)
    primary, baselines = baseline_arms(trials)
    axes = list(dict.fromkeys([*FIGURE_AXES, cost_axis]))
    fronts = {axis: arm_fronts(trials, metric, axis) for axis in axes}
    by_axis = {axis: speedups(trials, metric, axis) for axis in axes}
    floors = {m: done[f"floor.{m}"].median() for m in metrics_of(trials) if f"floor.{m}" in done}
    study = trials["study"].dropna()
    return {
        "study": study.iloc[0] if len(study) else None,
        "metric": metric,
        "metric_label": METRIC_LABELS.get(metric, metric),
        "cost_axis": cost_axis,
        "baseline": primary,
        "baselines": baselines,
        "reference_floor": floors,
        "front": _front_pairs(fronts[cost_axis], metric, cost_axis),
        "fronts_by_axis": {axis: _front_pairs(fronts[axis], metric, axis) for axis in axes},
        "speedup_at_iso_quality": by_axis[cost_axis],
        "speedup_by_axis": by_axis,
        "speedup_vs_t0": speedup_vs_t0(trials, metric, cost_axis, primary) if primary else {},
        "best_quality": _best_quality(done, arms, metric),
        "n_trials": {arm: int((trials["arm"] == arm).sum()) for arm in arms},
        "n_complete": {arm: int((done["arm"] == arm).sum()) for arm in arms},
        "n_failed": {
            arm: int(((trials["arm"] == arm) & (trials["state"] == "FAIL")).sum()) for arm in arms
        },
    }


def _front_table(fronts: dict[str, pd.DataFrame], metric: str, cost_axis: str):
    headers = [
        "arm",
        f"{AXIS_SHORT.get(cost_axis, cost_axis)} per sample",
        f"{metric} [CI]",
        "t0",
        "steps",
        "trial",
    ]
    rows = [
        [
            arm,
            fmt_number(r[cost_axis]),
            fmt_quality(r[f"q.{metric}"], r.get(f"q.{metric}_lo"), r.get(f"q.{metric}_hi")),
            fmt_number(r["t0"]),
            fmt_number(r["steps"]),
            str(r["trial"]),
        ]
        for arm, front in fronts.items()
        for _, r in front.iterrows()
    ]
    return headers, rows


def _speedup_table(summary: dict[str, Any]):
    metric, by_axis = summary["metric"], summary["speedup_by_axis"]
    headers = ["arm", f"best {metric} [CI]", f"floor {metric}"]
    headers += [f"vs {b} ({AXIS_SHORT[a]})" for b in summary["baselines"] for a in FIGURE_AXES]
    rows = []
    for arm, best in summary["best_quality"].items():
        best = best or {}
        row = [
            arm,
            fmt_quality(best.get("value"), best.get("lo"), best.get("hi")),
            fmt_number(best.get("floor")),
        ]
        for base in summary["baselines"]:
            for axis in FIGURE_AXES:
                result = by_axis[axis].get(base, {}).get(arm)
                row.append(result["text"] if result else "baseline")
        rows.append(row)
    return headers, rows


def _write_table(out: Path, name: str, headers, rows, caption: str) -> list[Path]:
    paths = [out / f"{name}.md", out / f"{name}.tex"]
    paths[0].write_text(markdown_table(headers, rows), encoding="utf-8")
    paths[1].write_text(latex_table(headers, rows, caption), encoding="utf-8")
    return paths


def write_report(
    run_dir: str | Path,
    metric: str | None = None,
    cost_axis: str = "nfe",
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Analyse ``RUN_DIR/trials.jsonl`` and write ``summary.json``, figures (PNG + PDF:
    front_nfe, front_wallclock, speedup_vs_t0, samples) and tables (front, speedup as .md and
    .tex) to ``out`` (default ``RUN_DIR/report``). Returns the summary as written."""
    run_dir = Path(run_dir)
    trials = load_trials(run_dir)
    if cost_axis not in COST_AXES:
        raise ValueError(f"cost_axis={cost_axis!r} is not one of {sorted(COST_AXES)}")
    metric = metric or default_metric(trials)
    if metric not in metrics_of(trials):
        raise ValueError(f"metric={metric!r} is not in the trials; allowed: {metrics_of(trials)}")
    out = Path(out) if out is not None else run_dir / "report"
    # matplotlib is imported only when figures are drawn: `import analysis` stays light and
    # MPLCONFIGDIR set by a caller (or a test) before this point is honoured.
    from analysis.plots import plot_front, plot_samples, plot_speedup_vs_t0

    out.mkdir(parents=True, exist_ok=True)

    summary = _strict(build_summary(trials, metric, cost_axis))
    floor = summary["reference_floor"].get(metric)
    files: list[Path] = []
    for axis in FIGURE_AXES:
        files += plot_front(
            trials, metric, summary["metric_label"], axis, floor, out / f"front_{axis}"
        )
    files += plot_speedup_vs_t0(
        summary["speedup_vs_t0"], summary["baseline"], out / "speedup_vs_t0"
    )
    files += plot_samples(trials, run_dir, metric, cost_axis, out / "samples")
    fronts = arm_fronts(trials, metric, cost_axis)
    files += _write_table(
        out,
        "front",
        *_front_table(fronts, metric, cost_axis),
        caption=f"Pareto fronts: {metric} vs {cost_axis} per arm",
    )
    files += _write_table(
        out,
        "speedup",
        *_speedup_table(summary),
        caption=f"Speed-up at iso-{metric} vs each noise-start baseline",
    )
    summary["files"] = sorted(p.name for p in [*files, out / "summary.json"])
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary


def format_summary_table(summary: dict[str, Any]) -> str:
    """A short plain-text table for the terminal: per arm its best quality, the cost it needs
    to reach the primary baseline's target, and its speed-up there in NFE and wall-clock."""
    primary, metric = summary["baseline"], summary["metric"]
    by_axis = summary["speedup_by_axis"]
    chosen = summary["speedup_at_iso_quality"].get(primary, {})
    headers = [
        "arm",
        f"best {metric}",
        f"{summary['cost_axis']} at target",
        "speed-up NFE",
        "speed-up wall-clock",
    ]
    rows = []
    for arm, best in summary["best_quality"].items():
        result = chosen.get(arm)
        if arm == primary:
            any_result = next(iter(chosen.values()), {})
            cost, nfe, wall = any_result.get("baseline_cost"), "baseline", "baseline"
        else:
            cost = result.get("method_cost") if result else None
            nfe = by_axis.get("nfe", {}).get(primary, {}).get(arm, {}).get("text", "—")
            wall = by_axis.get("wallclock", {}).get(primary, {}).get(arm, {}).get("text", "—")
        rows.append([arm, fmt_number((best or {}).get("value")), fmt_number(cost), nfe, wall])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, ["-" * w for w in widths], *rows]
    ]
    title = f"{summary.get('study')}: {metric}, speed-up vs {primary}"
    return "\n".join([title, *lines])
