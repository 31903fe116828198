"""Figures: quality-vs-cost fronts, speed-up vs t0, and sample scatter grids.

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

from analysis.load import COST_AXIS_LABELS, arm_order, complete_trials
from analysis.pareto import arm_fronts
from analysis.speedup import LOWER_BOUND, NEVER_REACHES, OK

MAX_SCATTER_POINTS = 2000  # enough to see the shape; keeps PDFs small


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns both paths."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def _colors(arms: list[str]) -> dict[str, Any]:
    cycle = [f"C{i % 10}" for i in range(len(arms))]
    return dict(zip(arms, cycle, strict=True))


def plot_front(
    trials: pd.DataFrame,
    metric: str,
    metric_label: str,
    cost_axis: str,
    floor: float | None,
    stem: Path,
) -> list[Path]:
    """Quality vs cost per arm (log-x): every trial faint, each arm's front bold.

    Zero-cost trials (drafter alone on the NFE axis) cannot sit on a log axis, so each such
    arm is a dashed horizontal line at its best zero-cost quality.
    """
    fig = _new_figure(7, 4.5)
    ax = fig.add_subplot()
    done = complete_trials(trials)
    arms = arm_order(trials)
    colors = _colors(arms)
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
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="0.5", lw=1)
        ax.axhspan(0, floor, color="0.5", alpha=0.15, lw=0, label="reference floor (noise)")
    if positive.any():
        ax.set_xscale("log")
        nfe_values = np.unique(done.loc[positive, cost_axis].to_numpy(dtype=float))
        if cost_axis == "nfe" and len(nfe_values) <= 12:
            # Label the measured step budgets themselves rather than powers of ten.
            ax.set_xticks(nfe_values, [f"{v:g}" for v in nfe_values])
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(COST_AXIS_LABELS.get(cost_axis, cost_axis))
    ax.set_ylabel(f"{metric_label} (lower is better)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{metric_label} vs {cost_axis}")
    return save_figure(fig, stem)


def plot_speedup_vs_t0(
    by_t0: dict[str, list[dict[str, Any]]], baseline: str | None, stem: Path
) -> list[Path]:
    """Speed-up vs t0 per warm arm: filled dots measured, hollow triangles lower bounds,
    crosses on the x-axis where that t0 never reaches the target; dotted line at 1x."""
    fig = _new_figure(6, 4)
    ax = fig.add_subplot()
    colors = _colors(list(by_t0))
    for arm, rows in by_t0.items():
        t0 = np.array([r["t0"] for r in rows])
        value = np.array([r["value"] if r["value"] is not None else np.nan for r in rows])
        status = np.array([r["status"] for r in rows])
        ax.plot(t0, value, "-", color=colors[arm], lw=1, alpha=0.6)
        ok, lower, never = status == OK, status == LOWER_BOUND, status == NEVER_REACHES
        ax.plot(t0[ok], value[ok], "o", color=colors[arm], label=arm)
        ax.plot(
            t0[lower],
            value[lower],
            "^",
            mfc="none",
            color=colors[arm],
            ms=8,
            label=f"{arm} (≥, lower bound)",
        )
        ax.plot(
            t0[never],
            np.zeros(never.sum()),
            "x",
            color=colors[arm],
            ms=8,
            clip_on=False,
            label=f"{arm} (never reaches)" if never.any() else None,
        )
    ax.axhline(1.0, color="0.3", ls=":", lw=1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("t0 (draft start time)")
    ax.set_ylabel(f"speed-up at iso-quality vs {baseline}")
    if by_t0:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no arm with a t0 knob", ha="center", transform=ax.transAxes)
    return save_figure(fig, stem)


def _load_points(run_dir: Path, relpath: Any) -> np.ndarray | None:
    """A [n, 2] sample array subsampled for plotting, or None if absent or unreadable."""
    if not isinstance(relpath, str) or not relpath:
        return None
    try:
        points = np.load(run_dir / relpath, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if points.ndim != 2 or points.shape[1] < 2:
        return None
    step = max(1, len(points) // MAX_SCATTER_POINTS)
    return points[::step, :2]


def _scatter_panel(ax, samples, drafts, title: str, color, limits) -> None:
    if drafts is not None:
        ax.scatter(drafts[:, 0], drafts[:, 1], s=2, color="0.6", alpha=0.5, lw=0, label="drafts")
    if samples is not None:
        ax.scatter(samples[:, 0], samples[:, 1], s=2, color=color, alpha=0.7, lw=0, label="samples")
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    if drafts is not None:
        ax.legend(fontsize=6, markerscale=4, loc="lower right")
    if limits is not None:
        ax.set_xlim(limits[0])
        ax.set_ylim(limits[1])
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _title(kind: str, row: pd.Series, metric: str, cost_axis: str) -> str:
    knobs = [f"{cost_axis}={row[cost_axis]:.3g}"]
    knobs += [f"{k}={row[k]:g}" for k in ("steps", "t0") if pd.notna(row.get(k))]
    return f"{row['arm']}\n{kind}: {', '.join(knobs)}, {metric}={row[f'q.{metric}']:.4g}"


def plot_samples(
    trials: pd.DataFrame, run_dir: Path, metric: str, cost_axis: str, stem: Path
) -> list[Path]:
    """Grid of 2-D scatters: the reference (if saved), then per arm its best-quality trial and
    its cheapest trial, drafts (grey) under the samples where saved."""
    done = complete_trials(trials)
    done = done.loc[done[f"q.{metric}"].notna() & done[cost_axis].notna()]
    arms = [a for a in arm_order(trials) if (done["arm"] == a).any()]
    reference = _load_points(run_dir, "reference.npy")
    limits = None
    if reference is not None:
        # Shared limits from the reference keep panels comparable and ignore outlier samples.
        lo, hi = np.percentile(reference, [0.5, 99.5], axis=0)
        pad = 0.15 * (hi - lo)
        limits = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    n_rows = len(arms) + (reference is not None)
    fig = _new_figure(6, 2.8 * max(n_rows, 1))
    axes = fig.subplots(max(n_rows, 1), 2, squeeze=False)
    row_at = 0
    if reference is not None:
        _scatter_panel(axes[0, 0], reference, None, "reference", "k", limits)
        axes[0, 1].set_axis_off()
        row_at = 1
    colors = _colors(arm_order(trials))
    for i, arm in enumerate(arms, start=row_at):
        rows = done.loc[done["arm"] == arm]
        best = rows.sort_values([f"q.{metric}", cost_axis], kind="stable").iloc[0]
        cheapest = rows.sort_values([cost_axis, f"q.{metric}"], kind="stable").iloc[0]
        for j, (kind, row) in enumerate((("best", best), ("cheapest", cheapest))):
            _scatter_panel(
                axes[i, j],
                _load_points(run_dir, row["samples_path"]),
                _load_points(run_dir, row["drafts_path"]),
                _title(kind, row, metric, cost_axis),
                colors[arm],
                limits,
            )
    if n_rows == 0:
        axes[0, 0].text(0.5, 0.5, "no samples", ha="center", transform=axes[0, 0].transAxes)
    return save_figure(fig, stem)
