"""``write_report``: a run folder's summary.json, figures and tables under ``report/``."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import (
    COST_AXES,
    arm_order,
    complete_trials,
    default_metric,
    feature_nets,
    load_trials,
    metrics_of,
    text_evaluators,
)
from analysis.pareto import arm_fronts
from analysis.speedup import baseline_arms, speedup_vs_t0, speedups
from analysis.tables import fmt_number, fmt_quality, latex_table, markdown_table, named_label
from analysis.text_report import (
    EVALUATOR_METRICS,
    TEXT_METRIC_LABELS,
    diversity_metrics,
    diversity_of,
    evaluator_label,
    evaluator_note,
    floor_row,
    front_cells,
    front_diversity,
    front_headers,
    is_diversity,
    is_text_run,
    speedup_cells,
    speedup_headers,
    write_samples_md,
)

METRIC_LABELS = {
    "sw2": "sliced W2",
    "energy": "energy distance",
    "hist_tv": "histogram TV",
    "mmd": "MMD",
    "fid": "FID",
    "kid": "KID",
    **TEXT_METRIC_LABELS,
}
# Metrics computed on a feature net's embeddings: their label always names the feature net
# (never a bare "FID": Inception FID and digits-classifier FID are different numbers).
FEATURE_METRICS = frozenset({"fid", "kid"})
NAMED_METRICS = FEATURE_METRICS | EVALUATOR_METRICS  # tables use their full label, not the key
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


def metric_label(
    metric: str, features: list[dict[str, Any]], evaluators: list[dict[str, Any]] = ()
) -> str:
    """The display label of ``metric``: e.g. "sliced W2"; for a feature metric it names the
    feature net, "FID (digits-classifier features)", and flags mixed feature nets; gen PPL
    names its evaluator LM the same way, "gen PPL (shakespeare-char-transformer)"."""
    if metric in EVALUATOR_METRICS:
        return evaluator_label(metric, list(evaluators))
    base = METRIC_LABELS.get(metric, metric)
    if metric not in FEATURE_METRICS:
        return base
    return named_label(base, list(features), kind="feature net", suffix=" features")


def metric_text(summary: dict[str, Any]) -> str:
    """How tables name the metric: its key for toy metrics (``sw2``), the full label for
    feature and evaluator-LM metrics, so no table says a bare "fid" or "gen_ppl"."""
    metric = summary["metric"]
    return summary["metric_label"] if metric in NAMED_METRICS else metric


def table_note(summary: dict[str, Any]) -> str | None:
    """The line under every table: the feature net (images) or evaluator LM (text), if any."""
    return features_note(summary) or evaluator_note(summary)


def _net_text(net: dict[str, Any]) -> str:
    parts = [
        f"test accuracy {fmt_number(net.get('test_accuracy'))}",
        f"weights {net.get('weights_hash') or '—'}",
    ]
    if net.get("feature_dim") is not None:
        parts.append(f"{net['feature_dim']}-d features")
    if net.get("n_reference") is not None:
        parts.append(f"{net['n_reference']} reference samples")
    if net.get("key"):
        parts.append(f"key {net['key']}")
    return f"{net.get('name') or 'unnamed'} ({', '.join(parts)})"


def features_note(summary: dict[str, Any]) -> str | None:
    """One line naming the feature net behind FID/KID (name, test accuracy, weights hash), or
    a warning listing every net and its arms when the trials mix several; None for toy runs."""
    nets = summary.get("features") or []
    if not nets:
        return None
    n_samples = ", ".join(str(n) for n in summary.get("n_samples") or []) or "—"
    if len(nets) == 1:
        return f"Feature net for FID/KID: {_net_text(nets[0])}; samples per trial: {n_samples}."
    listed = "; ".join(f"{_net_text(n)} used by {', '.join(n.get('arms') or [])}" for n in nets)
    return (
        f"WARNING: the trials mix {len(nets)} different feature nets, so their FID/KID values "
        f"are not comparable: {listed}; samples per trial: {n_samples}."
    )


def _n_samples(trials: pd.DataFrame) -> list[int]:
    values = pd.to_numeric(trials["n_samples"], errors="coerce").dropna()
    return sorted({int(v) for v in values})


def _front_pairs(fronts: dict[str, pd.DataFrame], metric: str, axis: str) -> dict[str, list]:
    return {
        arm: rows[[axis, f"q.{metric}"]].to_numpy(dtype=float).tolist()
        for arm, rows in fronts.items()
    }


def _best_quality(
    done: pd.DataFrame, arms: list[str], metric: str, diversity: list[str]
) -> dict[str, Any]:
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
        if diversity:  # text: how diverse the best-PPL samples are
            best[arm]["diversity"] = diversity_of(row, diversity)
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
    nets, lms = feature_nets(trials), text_evaluators(trials)
    diversity = diversity_metrics(trials, metric)
    return {
        "study": study.iloc[0] if len(study) else None,
        "metric": metric,
        "metric_label": metric_label(metric, nets, lms),
        "features": nets,
        "text_eval": lms,
        "n_samples": _n_samples(trials),
        "cost_axis": cost_axis,
        "baseline": primary,
        "baselines": baselines,
        "reference_floor": floors,
        "front": _front_pairs(fronts[cost_axis], metric, cost_axis),
        "fronts_by_axis": {axis: _front_pairs(fronts[axis], metric, axis) for axis in axes},
        # Text runs: entropy/distinct-n at each point of `front` (same order); {} elsewhere.
        "diversity_metrics": diversity,
        "front_diversity": front_diversity(fronts[cost_axis], diversity),
        "front_diversity_by_axis": {
            axis: front_diversity(fronts[axis], diversity) for axis in axes
        },
        "speedup_at_iso_quality": by_axis[cost_axis],
        "speedup_by_axis": by_axis,
        "speedup_vs_t0": speedup_vs_t0(trials, metric, cost_axis, primary) if primary else {},
        "best_quality": _best_quality(done, arms, metric, diversity),
        "n_trials": {arm: int((trials["arm"] == arm).sum()) for arm in arms},
        "n_complete": {arm: int((done["arm"] == arm).sum()) for arm in arms},
        "n_failed": {
            arm: int(((trials["arm"] == arm) & (trials["state"] == "FAIL")).sum()) for arm in arms
        },
    }


def _front_table(
    fronts: dict[str, pd.DataFrame],
    metric: str,
    cost_axis: str,
    name: str,
    diversity: list[str] = (),
    floors: dict[str, Any] | None = None,
):
    """Every front point; text runs (``diversity`` given) add entropy/distinct-2 columns
    and a first row with the reference floor (held-out text)."""
    headers = [
        "arm",
        f"{AXIS_SHORT.get(cost_axis, cost_axis)} per sample",
        f"{name} [CI]",
        *front_headers(diversity),
        "t0",
        "steps",
        "trial",
    ]
    rows = [
        [
            arm,
            fmt_number(r[cost_axis]),
            fmt_quality(r[f"q.{metric}"], r.get(f"q.{metric}_lo"), r.get(f"q.{metric}_hi")),
            *front_cells(r, diversity),
            fmt_number(r["t0"]),
            fmt_number(r["steps"]),
            str(r["trial"]),
        ]
        for arm, front in fronts.items()
        for _, r in front.iterrows()
    ]
    if diversity:
        rows.insert(0, floor_row(metric, diversity, floors or {}, len(headers)))
    return headers, rows


def _speedup_table(summary: dict[str, Any]):
    name, by_axis = metric_text(summary), summary["speedup_by_axis"]
    diversity, floors = summary.get("diversity_metrics") or [], summary["reference_floor"]
    headers = ["arm", f"best {name} [CI]", f"floor {name}", *speedup_headers(diversity)]
    headers += [f"vs {b} ({AXIS_SHORT[a]})" for b in summary["baselines"] for a in FIGURE_AXES]
    rows = []
    for arm, best in summary["best_quality"].items():
        best = best or {}
        row = [
            arm,
            fmt_quality(best.get("value"), best.get("lo"), best.get("hi")),
            fmt_number(best.get("floor")),
            *speedup_cells(best, floors, diversity),
        ]
        for base in summary["baselines"]:
            for axis in FIGURE_AXES:
                result = by_axis[axis].get(base, {}).get(arm)
                row.append(result["text"] if result else "baseline")
        rows.append(row)
    return headers, rows


def _write_table(
    out: Path, name: str, headers, rows, caption: str, note: str | None = None
) -> list[Path]:
    """``name.md`` (``note`` as a line under the table) and ``name.tex`` (``note`` appended
    to the caption)."""
    paths = [out / f"{name}.md", out / f"{name}.tex"]
    markdown = markdown_table(headers, rows)
    if note:
        markdown += f"\n{note}\n"
        caption = f"{caption}. {note}"
    paths[0].write_text(markdown, encoding="utf-8")
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
    .tex) to ``out`` (default ``RUN_DIR/report``). Returns the summary as written.

    Image runs (samples saved as [n, C, H, W]) get image grids in ``samples`` and one PNG per
    arm, ``grids/<safe arm name>.png``, with samples at a few budgets along its front. When
    the trials carry ``features`` (the net FID/KID are computed on), the metric label and a
    note under every table name it; trials mixing several feature nets are warned about.
    Text runs (see ``analysis.text_report``) get ``samples.md`` instead of the samples figure,
    entropy and distinct-2 beside gen PPL in the tables and an entropy panel under each
    front; their evaluator LM is named like a feature net.
    ``summary["files"]`` lists every file written, relative to ``out``."""
    run_dir = Path(run_dir)
    trials = load_trials(run_dir)
    if cost_axis not in COST_AXES:
        raise ValueError(f"cost_axis={cost_axis!r} is not one of {sorted(COST_AXES)}")
    metric = metric or default_metric(trials)
    if metric not in metrics_of(trials):
        raise ValueError(f"metric={metric!r} is not in the trials; allowed: {metrics_of(trials)}")
    if is_diversity(metric):
        raise ValueError(
            f"metric={metric!r} is a diversity measure (higher = more diverse), reported beside "
            "the primary metric; fronts and speed-ups need a lower-is-better metric"
        )
    out = Path(out) if out is not None else run_dir / "report"
    # matplotlib is imported only when figures are drawn: `import analysis` stays light and
    # MPLCONFIGDIR set by a caller (or a test) before this point is honoured.
    from analysis.plots import plot_arm_grids, plot_front, plot_samples, plot_speedup_vs_t0

    out.mkdir(parents=True, exist_ok=True)

    summary = _strict(build_summary(trials, metric, cost_axis))
    if len(summary["features"]) > 1 or len(summary["text_eval"]) > 1:
        warnings.warn(f"{run_dir}: {table_note(summary)}", stacklevel=2)
    floors = summary["reference_floor"]
    floor = floors.get(metric)
    label = summary["metric_label"]
    # Toy runs keep their figures exactly as before; feature metrics are named in every title.
    named = label if metric in NAMED_METRICS else None
    note = table_note(summary)
    name = metric_text(summary)
    text = is_text_run(trials)
    diversity = summary["diversity_metrics"]
    panel = ("entropy", "entropy (nats)", floors.get("entropy")) if "entropy" in diversity else None
    files: list[Path] = []
    for axis in FIGURE_AXES:
        files += plot_front(
            trials,
            metric,
            label,
            axis,
            floor,
            out / f"front_{axis}",
            **({"floor_label": "held-out text", "secondary": panel} if text else {}),
        )
    files += plot_speedup_vs_t0(
        summary["speedup_vs_t0"], summary["baseline"], out / "speedup_vs_t0", named
    )
    if text:  # sample texts as Markdown; the scatter/image code never sees .json samples
        files += write_samples_md(
            trials, run_dir, metric, cost_axis, out / "samples.md", label, floors
        )
    else:
        files += plot_samples(trials, run_dir, metric, cost_axis, out / "samples", named)
        files += plot_arm_grids(trials, run_dir, metric, cost_axis, out / "grids", label)
    fronts = arm_fronts(trials, metric, cost_axis)
    files += _write_table(
        out,
        "front",
        *_front_table(fronts, metric, cost_axis, name, diversity, floors),
        caption=f"Pareto fronts: {name} vs {cost_axis} per arm",
        note=note,
    )
    files += _write_table(
        out,
        "speedup",
        *_speedup_table(summary),
        caption=f"Speed-up at iso-{name} vs each noise-start baseline",
        note=note,
    )
    summary["files"] = sorted(p.relative_to(out).as_posix() for p in [*files, out / "summary.json"])
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary


def format_summary_table(summary: dict[str, Any]) -> str:
    """A short plain-text table for the terminal: per arm its best quality, the cost it needs
    to reach the primary baseline's target, and its speed-up there in NFE and wall-clock
    (text runs: also the entropy at the best point)."""
    primary, metric = summary["baseline"], metric_text(summary)
    entropy = "entropy" in (summary.get("diversity_metrics") or [])
    by_axis = summary["speedup_by_axis"]
    chosen = summary["speedup_at_iso_quality"].get(primary, {})
    headers = [
        "arm",
        f"best {metric}",
        *(["entropy at best"] if entropy else []),
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
        best = best or {}
        at_best = [fmt_number((best.get("diversity") or {}).get("entropy"))] if entropy else []
        rows.append([arm, fmt_number(best.get("value")), *at_best, fmt_number(cost), nfe, wall])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, ["-" * w for w in widths], *rows]
    ]
    title = f"{summary.get('study')}: {metric}, speed-up vs {primary}"
    notes = [table_note(summary)]
    if "samples.md" in (summary.get("files") or []):
        notes.append("Sample texts: samples.md in the report folder.")
    return "\n".join([title, *lines, *(n for n in notes if n)])
