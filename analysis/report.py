"""``write_report``: a run folder's summary.json, figures and tables under ``report/``.

What every track gets is here; what only one track needs (sample figures, extra metric
columns, a panel under the fronts) comes from its renderer (``analysis.tracks``), chosen by
the ``track`` the records carry.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.budgets import BUDGETS_NOTE, budget_rows, budgets_table, declared_budgets
from analysis.cost_axes import AXIS_SHORT, COST_AXES, FIGURE_AXES, SPEEDUP_AXES, present
from analysis.counters import counter_values
from analysis.fronts import arm_fronts
from analysis.labels import (
    confirmation_rule,
    metric_text,
    short_label,
    speedup_note,
    uses_evaluator,
)
from analysis.load import load_trials
from analysis.matched import MATCHED_NOTE, best_matching, declared, matched_rows, matched_table
from analysis.summary import DEFAULT_TOLERANCE, build_summary, strict
from analysis.tables import (
    fmt_number,
    fmt_quality,
    knob_cells,
    knob_header,
    metric_cells,
    write_table,
)
from analysis.tracks import Context, Renderer, renderer_for
from analysis.trials import default_metric, higher_is_better, metrics_of
from analysis.verdicts import judged


def front_table(
    trials: pd.DataFrame, summary: dict[str, Any], renderer: Renderer
) -> tuple[list[str], list[list[str]]]:
    """Every front point on the summary's cost axis: cost, metric [CI], the renderer's extra
    metrics, one column per method counter any record reported (``summary["counters"]``,
    per sample), one column per knob (``summary["knobs"]``), the trial. With extra metrics,
    a first row gives the reference floor of each."""
    metric, cost_axis = summary["metric"], summary["cost_axis"]
    info, knobs, declared = summary["metric_info"], summary["knobs"], summary["arm_knobs"]
    extra, counters = renderer.front_columns(summary), summary.get("counters") or []
    headers = [
        "arm",
        f"{AXIS_SHORT.get(cost_axis, cost_axis)} per sample",
        f"{metric_text(summary)} [CI]",
        *(f"{short_label(m, info)} [CI]" for m in extra),
        *counters,
        *(knob_header(k) for k in knobs),
        "trial",
    ]
    rows = [
        [
            arm,
            fmt_number(r[cost_axis]),
            *metric_cells(r, [metric, *extra]),
            *(fmt_number(v) for v in counter_values(r, counters)),
            *knob_cells(r, knobs, declared.get(arm, [])),
            str(r["trial"]),
        ]
        for arm, front in arm_fronts(trials, metric, cost_axis).items()
        for _, r in front.iterrows()
    ]
    if extra:
        floors = summary["reference_floor"]
        floor = [renderer.floor_row, "—"]
        floor += [fmt_number(floors.get(m)) for m in [metric, *extra]]
        rows.insert(0, floor + ["—"] * (len(headers) - len(floor)))
    return headers, rows


def speedup_table(summary: dict[str, Any], renderer: Renderer) -> tuple[list[str], list[list[str]]]:
    """Per arm its best quality [CI] (re-evaluated on fresh seeds where the sweep confirmed it)
    and that setting's value in the search, the floor, the renderer's extra metrics at that
    point (and their floor), then its speed-up [interval] vs every baseline on the NFE, FLOPs
    and wall-clock axes, each with its verdict; then, against the primary baseline, the same
    at the tolerant target (within ``target_tolerance`` of its best). The confirmed speed-ups
    are ``confirmed_table``'s."""
    name, by_axis, info = metric_text(summary), summary["speedup_by_axis"], summary["metric_info"]
    floors, extra = summary["reference_floor"], renderer.speedup_columns(summary)
    fresh = any((b or {}).get("confirmed") for b in summary["best_quality"].values())
    headers = ["arm", f"best {name} [CI]{', fresh seeds' if fresh else ''}", "in search",
               f"floor {name}"]
    for m in extra:
        headers += [f"{short_label(m, info)} at best [CI]", f"floor {short_label(m, info)}"]
    axes = tuple(summary.get("speedup_axes") or SPEEDUP_AXES)
    headers += [f"vs {b} ({AXIS_SHORT[a]})" for b in summary["baselines"] for a in axes]
    primary, tolerant = summary["baseline"], summary.get("speedup_tolerant_by_axis") or {}
    within = f"{summary['target_tolerance'] * 100:g}%"
    if tolerant:
        headers += [f"vs {primary} within {within} ({AXIS_SHORT[a]})" for a in axes]
    rows = []
    for arm, best in summary["best_quality"].items():
        best = best or {}
        row = [
            arm,
            fmt_quality(best.get("value"), best.get("lo"), best.get("hi")),
            fmt_number((best.get("search") or {}).get("value")),
            fmt_number(best.get("floor")),
        ]
        diversity = best.get("diversity") or {}
        for m in extra:
            lo, hi = diversity.get(f"{m}_ci") or (None, None)
            row += [fmt_quality(diversity.get(m), lo, hi), fmt_number(floors.get(m))]
        for base in summary["baselines"]:
            for axis in axes:
                row.append(judged(by_axis[axis].get(base, {}).get(arm)))
        if tolerant:
            row += [judged(tolerant[axis].get(primary, {}).get(arm)) for axis in axes]
        rows.append(row)
    return headers, rows


def confirmed_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """The speed-ups read off the confirmation looks (``summary["confirmed"]``), per arm: the
    look and n it was last read at, then against every baseline on each axis at the strict
    target and at the small-budget one, and against the primary at the tolerant target; None
    without looks."""
    c = summary.get("confirmed") or {}
    if not c:
        return None
    primary, within = summary["baseline"], f"{summary['target_tolerance'] * 100:g}%"
    columns = [(c["speedup_by_axis"], b, "") for b in summary["baselines"]]
    if c.get("budget") is not None:
        columns += [(c["speedup_budget_by_axis"], b, f" at ≤ {c['budget']:g} NFE") for b in summary["baselines"]]
    if c.get("speedup_tolerant_by_axis"):
        columns.append((c["speedup_tolerant_by_axis"], primary, f" within {within}"))
    axes = tuple(summary.get("speedup_axes") or SPEEDUP_AXES)
    headers = ["arm", "look (n)"] + [f"vs {b}{label} ({AXIS_SHORT[a]})" for _, b, label in columns for a in axes]
    n_of = {look["look"]: look["n_samples"] for look in c["looks"]}
    rows = []
    for arm in summary["best_quality"]:
        stop = c["stopped"].get(arm)
        where = f"{stop['look']} ({n_of.get(stop['look'], 0):,}), {stop['why']}" if stop else "—"
        row = [arm, where]
        for by, base, _ in columns:
            missing = "baseline" if arm == base else "not confirmed"
            row += [judged((by.get(axis) or {}).get(base, {}).get(arm), missing) for axis in axes]
        rows.append(row)
    return headers, rows


def _check_choice(trials: pd.DataFrame, metric: str, cost_axis: str) -> None:
    if cost_axis not in COST_AXES:
        raise ValueError(f"cost_axis={cost_axis!r} is not one of {sorted(COST_AXES)}")
    if metric not in metrics_of(trials):
        raise ValueError(f"metric={metric!r} is not in the trials; allowed: {metrics_of(trials)}")
    if higher_is_better(trials, metric):
        lower = [m for m in metrics_of(trials) if not higher_is_better(trials, m)]
        raise ValueError(
            f"metric={metric!r} is higher-is-better (reported beside the front metric); fronts "
            f"and speed-ups need a lower-is-better metric, one of {lower}"
        )


def write_report(
    run_dir: str | Path,
    metric: str | None = None,
    cost_axis: str = "nfe",
    out: str | Path | None = None,
    options: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Analyse ``RUN_DIR/trials.jsonl`` and write to ``out`` (default ``RUN_DIR/report``):
    ``summary.json``; figures as PNG and PDF (``front_nfe``, ``front_wallclock``,
    ``speedup_vs_t0``, ``learning_curves`` where the run folder holds training curves,
    ``diagnostic_<name>`` for each of its diagnostics) and the track's sample view (points: ``samples`` scatter; images:
    ``samples`` image rows and ``grids/<arm>.png``; text: ``samples.md``; a plugin track:
    none); tables ``front``, ``speedup`` and (after confirmation looks) ``confirmed`` as .md and .tex. Returns the summary as written;
    ``summary["files"]`` lists every file written, relative to ``out``.

    ``tolerance``: the tolerant target's fraction (``analysis.summary.DEFAULT_TOLERANCE``).
    ``options`` are the track's report options (text: ``entropy_band``, nats either side of
    held-out entropy). ``metric`` defaults to the records' primary metric and must be lower-is-better;
    ``cost_axis`` is one of ``COST_AXES``. Raises ``ValueError`` (one line) for a bad choice,
    a malformed or old-format trials.jsonl; ``FileNotFoundError`` when there is none. When
    trials mix evaluator models (feature nets, evaluator LMs), a ``UserWarning`` says so.
    """
    run_dir = Path(run_dir)
    trials = load_trials(run_dir)
    metric = metric or default_metric(trials)
    _check_choice(trials, metric, cost_axis)
    out = Path(out) if out is not None else run_dir / "report"
    # matplotlib is imported only when figures are drawn: `import analysis` stays light and
    # MPLCONFIGDIR set by a caller (or a test) before this point is honoured.
    from analysis.curves import plot_learning_curves
    from analysis.diagnostics import plot_diagnostics
    from analysis.figures import plot_front, plot_speedup_vs_t0

    out.mkdir(parents=True, exist_ok=True)
    summary = strict(build_summary(trials, metric, cost_axis, tolerance))
    renderer = renderer_for(summary["track"])
    note = renderer.table_note(summary)
    if len(summary["evaluators"]) > 1:
        warnings.warn(f"{run_dir}: {note}", stacklevel=2)
    label = summary["metric_label"]
    named = label if uses_evaluator(metric, summary["metric_info"]) else None  # plain metrics: short titles
    files: list[Path] = []
    for axis in dict.fromkeys((*present(trials, FIGURE_AXES), cost_axis)):
        files += plot_front(
            trials,
            metric,
            label,
            axis,
            summary["reference_floor"].get(metric),
            out / f"front_{axis}",
            floor_label=renderer.floor_label,
            secondary=renderer.front_panel(summary),
        )
    files += plot_speedup_vs_t0(
        summary["speedup_vs_t0"], summary["baseline"], out / "speedup_vs_t0", named
    )
    ctx = Context(trials, run_dir, out, summary, dict(options or {}))
    files += renderer.samples(ctx)
    files += renderer.tables(ctx)
    files += plot_learning_curves(run_dir, out / "learning_curves")
    files += plot_diagnostics(run_dir, out)
    name = metric_text(summary)
    files += write_table(
        out,
        "front",
        *front_table(trials, summary, renderer),
        caption=f"Pareto fronts: {name} vs {cost_axis} per arm",
        note=note,
    )
    files += write_table(
        out,
        "speedup",
        *speedup_table(summary, renderer),
        caption=f"Speed-up at iso-{name} vs each baseline",
        note=" ".join(n for n in (note, speedup_note(summary)) if n),
    )
    matched = declared(trials)
    if matched:
        rows = matched_rows(trials, metric, list(matched["on"]), float(matched["delta"]))
        summary["matched"] = {**matched, "best": best_matching(rows), "rows": rows}
        files += write_table(out, "matched", *matched_table(rows, metric),
                             caption=f"Each arm against {summary['baseline']} at equal {', '.join(matched['on'])}, "
                                     "paired on the same seeds", note=MATCHED_NOTE)
    budgets = declared_budgets(trials)
    if budgets:
        rows = budget_rows(trials, metric, budgets)
        summary["budgets"] = {"budgets": budgets, "rows": rows}
        files += write_table(out, "budgets", *budgets_table(rows, budgets),
                             caption=f"{name} at equal nominal block budgets, against {summary['baseline']}",
                             note=BUDGETS_NOTE)
    confirmed = confirmed_table(summary)
    if confirmed is not None:
        uncertain = ((summary.get("confirmed") or {}).get("uncertainty") or {}).get("text")
        files += write_table(out, "confirmed", *confirmed, caption=f"Confirmed speed-ups at iso-{name}",
                             note=" ".join(n for n in (confirmation_rule(summary), uncertain) if n))
    summary["files"] = sorted(p.relative_to(out).as_posix() for p in [*files, out / "summary.json"])
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary
