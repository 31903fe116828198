"""Figures every track gets: quality-vs-cost fronts and speed-up vs t0 (sample figures are
the track renderers' business, ``analysis.tracks``).

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, never through pyplot,
so no GUI backend or global figure state is involved (safe in workers and tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.cost_axes import COST_AXIS_LABELS
from analysis.fronts import LOWER_BOUND, NEVER_REACHES, OK, arm_fronts
from analysis.style import colors_for
from analysis.tables import fmt_knob, knob_header
from analysis.trials import arm_order, complete_trials

LOG_RATIO = 10.0  # a range wider than this goes on a log axis


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns both paths."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def show_image(ax, image: np.ndarray) -> None:  # noqa: ANN001
    """Draw an [H, W, C] image in [0, 1] on ``ax``: grey scale for one channel, pixels unsmoothed."""
    if image.shape[2] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def log_scale_wanted(values: np.ndarray) -> bool:
    """A log axis where the finite values are all positive and span more than 10x, so the
    differences that matter are not squeezed against a 1-NFE baseline's far-off value."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool((values > 0).all()) and values.max() / values.min() > LOG_RATIO


def plot_front(
    trials: pd.DataFrame,
    metric: str,
    metric_label: str,
    cost_axis: str,
    floor: float | None,
    stem: Path,
    *,
    floor_label: str = "reference floor (noise)",
    secondary: tuple[str, str, float | None] | None = None,
) -> list[Path]:
    """Quality vs cost per arm (log-x): every trial faint, each arm's front bold.

    Zero-cost trials (drafter alone on the NFE axis) cannot sit on a log axis, so each such
    arm is a dashed horizontal line at its best zero-cost quality. ``secondary`` = (metric,
    label, floor) adds a small panel below: that metric (e.g. text entropy, higher = more
    diverse) at each arm's front points, so a low quality value bought by collapse shows.
    ``floor_label`` names the grey band under the floor.
    """
    fig = new_figure(9, 6.3 if secondary else 4.5)  # room for the legend beside the axes
    if secondary:
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    else:
        ax = fig.add_subplot()
    done = complete_trials(trials)
    arms = arm_order(trials)
    colors = colors_for(arms)
    fronts = arm_fronts(trials, metric, cost_axis)
    positive = done[cost_axis].to_numpy(dtype=float) > 0
    for arm in arms:
        rows = done.loc[done["arm"] == arm]
        cost = rows[cost_axis].to_numpy(dtype=float)
        quality = rows[f"q.{metric}"].to_numpy(dtype=float)
        at_zero = (cost == 0) & np.isfinite(quality)
        if at_zero.any():
            ax.axhline(
                quality[at_zero].min(), color=colors[arm], ls="--", lw=1.5, label=f"{arm} (cost 0)"
            )
        keep = cost > 0
        ax.scatter(cost[keep], quality[keep], color=colors[arm], alpha=0.25, s=14, lw=0)
        front = fronts[arm]
        front = front.loc[front[cost_axis] > 0]
        if len(front):
            ax.plot(
                front[cost_axis],
                front[f"q.{metric}"],
                "-o",
                color=colors[arm],
                lw=2,
                ms=5,
                label=arm if not at_zero.any() else None,
            )
    values = done[f"q.{metric}"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    # FID 24 at 1 NFE beside differences of 0.2, gen PPL 600 beside 5: log-y keeps the
    # region where methods compete readable.
    log_y = log_scale_wanted(values)
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="0.5", lw=1)
        low = floor / 2 if log_y else 0
        ax.axhspan(low, floor, color="0.5", alpha=0.15, lw=0, label=floor_label)
    if positive.any():
        ax.set_xscale("log")
        nfe_values = np.unique(done.loc[positive, cost_axis].to_numpy(dtype=float))
        if cost_axis == "nfe" and len(nfe_values) <= 12:
            # Label the measured step budgets themselves rather than powers of ten.
            ax.set_xticks(nfe_values, [f"{v:g}" for v in nfe_values])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(f"{metric_label} (lower is better)")
    if log_y:
        ax.set_yscale("log")
        has_floor = floor is not None and np.isfinite(floor)
        ax.set_ylim(bottom=min(values.min(), floor if has_floor else values.min()) / 1.5)
    elif len(values) and values.min() >= 0:
        ax.set_ylim(bottom=0)
    # beside the axes, never over the points
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title(f"{metric_label} vs {cost_axis}")
    if secondary:
        _secondary_panel(ax2, fronts, cost_axis, colors, *secondary, floor_label)
        ax = ax2
    ax.set_xlabel(COST_AXIS_LABELS.get(cost_axis, cost_axis))
    return save_figure(fig, stem)


def _secondary_panel(ax, fronts, cost_axis, colors, metric, label, floor, floor_label) -> None:
    """``metric`` at each arm's front points (same costs as the panel above); zero-cost
    points as dashed lines; the reference value as a grey line."""
    for arm, front in fronts.items():
        values = front[f"q.{metric}"] if f"q.{metric}" in front else None
        if values is None or front.empty:
            continue
        zero = front[cost_axis] == 0
        if zero.any() and np.isfinite(values[zero].iloc[0]):
            ax.axhline(values[zero].iloc[0], color=colors[arm], ls="--", lw=1.2)
        ax.plot(front.loc[~zero, cost_axis], values[~zero], "-o", color=colors[arm], lw=1.5, ms=4)
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="0.5", lw=1, label=floor_label)
        ax.legend(fontsize=7, loc="lower right")
    ax.set_ylabel(f"{label}\n(higher = more diverse)", fontsize=8)
    ax.set_title(f"{label} at the front points above", fontsize=8)


def plot_speedup_vs_t0(
    by_t0: dict[str, list[dict[str, Any]]],
    baseline: str | None,
    stem: Path,
    metric_label: str | None = None,
) -> list[Path]:
    """``stem``.png/.pdf of ``speedup_vs_t0_figure``."""
    return save_figure(speedup_vs_t0_figure(by_t0, baseline, metric_label), stem)


def speedup_vs_t0_figure(
    by_t0: dict[str, list[dict[str, Any]]], baseline: str | None, metric_label: str | None = None
) -> Figure:
    """Speed-up vs t0 per arm of ``by_t0`` (the arms with a t0 knob, see ``fronts.t0_arms``):
    filled dots measured, hollow triangles lower bounds, crosses on the x-axis where that t0
    never reaches the target; dotted line at 1x. The legend, beside the axes, names each arm
    once (its colour) and each marker once. ``metric_label`` names the quality measure."""
    from matplotlib.lines import Line2D

    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    colors = colors_for(list(by_t0))
    seen = set()
    for arm, rows in by_t0.items():
        t0 = np.array([r["t0"] for r in rows])
        value = np.array([r["value"] if r["value"] is not None else np.nan for r in rows])
        status = np.array([r["status"] for r in rows])
        ax.plot(t0, value, "-", color=colors[arm], lw=1, alpha=0.6, label=arm)
        ok, lower, never = status == OK, status == LOWER_BOUND, status == NEVER_REACHES
        ax.plot(t0[ok], value[ok], "o", color=colors[arm])
        ax.plot(t0[lower], value[lower], "^", mfc="none", color=colors[arm], ms=8)
        ax.plot(t0[never], np.zeros(never.sum()), "x", color=colors[arm], ms=8, clip_on=False)
        seen |= {name for name, mask in (("ok", ok), ("lower", lower), ("never", never)) if mask.any()}
    ax.axhline(1.0, color="0.3", ls=":", lw=1)
    if metric_label:
        ax.set_title(f"iso-quality in {metric_label}", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("t0 (draft start time)")
    ax.set_ylabel(f"speed-up at iso-quality vs {baseline}")
    if by_t0:
        markers = {"ok": Line2D([], [], color="0.2", marker="o", ls="none", label="measured"),
                   "lower": Line2D([], [], color="0.2", marker="^", mfc="none", ls="none", ms=8,
                                   label="lower bound (≥)"),
                   "never": Line2D([], [], color="0.2", marker="x", ls="none", ms=8, label="never reaches")}
        handles = [*ax.get_legend_handles_labels()[0], *(markers[k] for k in ("ok", "lower", "never") if k in seen)]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no arm with a t0 knob", ha="center", transform=ax.transAxes)
    return fig


def trial_title(
    kind: str, row: pd.Series, metric: str, cost_axis: str, label: str | None = None
) -> str:
    """``arm``, then ``kind: cost, the arm's knobs, <label or metric>=value`` on a second line."""
    knobs = [f"{cost_axis}={row[cost_axis]:.3g}"]
    knobs += [f"{knob_header(k)}={fmt_knob(row.get(f'param.{k}'))}" for k in row["knobs"]]
    value = row[f"q.{metric}"]
    return f"{row['arm']}\n{kind}: {', '.join(knobs)}, {label or metric}={value:.4g}"
