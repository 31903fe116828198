"""Figures: quality-vs-cost fronts, speed-up vs t0, and sample scatters or image grids.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, never through pyplot,
so no GUI backend or global figure state is involved (safe in workers and tests).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.load import COST_AXIS_LABELS, arm_order, complete_trials
from analysis.pareto import arm_fronts
from analysis.pareto import best_and_cheapest as _best_and_cheapest
from analysis.speedup import LOWER_BOUND, NEVER_REACHES, OK

MAX_SCATTER_POINTS = 2000  # enough to see the shape; keeps PDFs small
N_GRID_IMAGES = 8  # images per row of an image grid (the first ones saved, same indices)
N_GRID_BUDGETS = 4  # budgets along an arm's front in its per-arm grid


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
    *,
    floor_label: str = "reference floor (noise)",
    secondary: tuple[str, str, float | None] | None = None,
) -> list[Path]:
    """Quality vs cost per arm (log-x): every trial faint, each arm's front bold.

    Zero-cost trials (drafter alone on the NFE axis) cannot sit on a log axis, so each such
    arm is a dashed horizontal line at its best zero-cost quality. ``secondary`` = (metric,
    label, floor) adds a small panel below: that metric (e.g. text entropy, higher = more
    diverse) at each arm's front points, so a low quality value bought by collapse shows.
    """
    fig = _new_figure(7, 6.3 if secondary else 4.5)
    if secondary:
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    else:
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
    values = done[f"q.{metric}"].to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    # Perplexities span orders of magnitude (600 at 1 NFE, 5 for real text): log-y keeps the
    # region where methods compete readable. Other metrics keep a linear axis from 0.
    log_y = metric.startswith("gen_ppl") and len(values) and values.max() / values.min() > 20
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
        ax.set_ylim(bottom=min(values.min(), floor if floor is not None and np.isfinite(floor) else values.min()) / 1.5)
    else:
        ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"{metric_label} vs {cost_axis}")
    if secondary:
        _secondary_panel(ax2, fronts, cost_axis, colors, *secondary)
        ax = ax2
    ax.set_xlabel(COST_AXIS_LABELS.get(cost_axis, cost_axis))
    return save_figure(fig, stem)


def _secondary_panel(ax, fronts, cost_axis: str, colors, metric: str, label: str, floor) -> None:
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
        ax.axhline(floor, color="0.5", lw=1, label="held-out text")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_ylabel(f"{label}\n(higher = more diverse)", fontsize=8)
    ax.set_title(f"{label} at the front points above", fontsize=8)


def plot_speedup_vs_t0(
    by_t0: dict[str, list[dict[str, Any]]],
    baseline: str | None,
    stem: Path,
    metric_label: str | None = None,
) -> list[Path]:
    """Speed-up vs t0 per warm arm: filled dots measured, hollow triangles lower bounds,
    crosses on the x-axis where that t0 never reaches the target; dotted line at 1x.
    ``metric_label``, when given, names the quality measure in the title."""
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
    if metric_label:
        ax.set_title(f"iso-quality in {metric_label}", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("t0 (draft start time)")
    ax.set_ylabel(f"speed-up at iso-quality vs {baseline}")
    if by_t0:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no arm with a t0 knob", ha="center", transform=ax.transAxes)
    return save_figure(fig, stem)


def _is_npy(relpath: Any) -> bool:
    """Only ``.npy`` files are read as arrays (text runs save ``.json`` samples)."""
    return isinstance(relpath, str) and relpath.endswith(".npy")


def _load_points(run_dir: Path, relpath: Any) -> np.ndarray | None:
    """A [n, 2] sample array subsampled for plotting, or None if absent or unreadable."""
    if not _is_npy(relpath):
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


def _title(kind: str, row: pd.Series, metric: str, cost_axis: str, label: str | None = None) -> str:
    """``arm``, then ``kind: knobs, <label or metric>=value`` on a second line."""
    knobs = [f"{cost_axis}={row[cost_axis]:.3g}"]
    knobs += [f"{k}={row[k]:g}" for k in ("steps", "t0") if pd.notna(row.get(k))]
    value = row[f"q.{metric}"]
    return f"{row['arm']}\n{kind}: {', '.join(knobs)}, {label or metric}={value:.4g}"


def plot_samples(
    trials: pd.DataFrame,
    run_dir: Path,
    metric: str,
    cost_axis: str,
    stem: Path,
    metric_label: str | None = None,
) -> list[Path]:
    """Grid of 2-D scatters: the reference (if saved), then per arm its best-quality trial and
    its cheapest trial, drafts (grey) under the samples where saved.

    When the run saved images ([n, C, H, W] reference or samples), rows of images instead:
    see ``_plot_image_samples``; ``metric_label`` then names the metric in the titles.
    """
    if images_in_run(trials, run_dir):
        return _plot_image_samples(trials, run_dir, metric, cost_axis, stem, metric_label)
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
        best, cheapest = _best_and_cheapest(done.loc[done["arm"] == arm], metric, cost_axis)
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


# --- image runs --------------------------------------------------------------------------


def _peek_shape(run_dir: Path, relpath: Any) -> tuple[int, ...] | None:
    """The shape of a saved .npy array without reading its data, None if absent/unreadable."""
    if not _is_npy(relpath):
        return None
    try:
        return tuple(np.load(run_dir / relpath, mmap_mode="r", allow_pickle=False).shape)
    except (OSError, ValueError):
        return None


def _is_image_shape(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) == 4 and shape[1] in (1, 3) and shape[0] > 0


def images_in_run(trials: pd.DataFrame, run_dir: Path) -> bool:
    """True when the run saved images: ``reference.npy`` is [n, C, H, W] (C = 1 or 3), or,
    with no usable 2-D reference, the first readable samples file of a COMPLETE trial is."""
    shape = _peek_shape(run_dir, "reference.npy")
    if _is_image_shape(shape):
        return True
    if shape is not None and len(shape) == 2:
        return False
    for relpath in complete_trials(trials)["samples_path"]:
        shape = _peek_shape(run_dir, relpath)
        if shape is not None:
            return _is_image_shape(shape)
    return False


def _load_images(run_dir: Path, relpath: Any, n: int = N_GRID_IMAGES) -> np.ndarray | None:
    """The first ``n`` images of a saved [n, C, H, W] array as float32, or None."""
    if not _is_npy(relpath):
        return None
    try:
        array = np.load(run_dir / relpath, mmap_mode="r", allow_pickle=False)
        if not _is_image_shape(array.shape):
            return None
        return np.array(array[:n], dtype=np.float32)
    except (OSError, ValueError):
        return None


def _montage(images: np.ndarray, slots: int = N_GRID_IMAGES, pad: int = 1) -> np.ndarray:
    """[k, C, H, W] in [-1, 1] -> one [H, slots*(W+pad)-pad, C] strip in [0, 1]; separators and
    empty slots (k < slots) are white, so every row of a figure has the same pixel scale."""
    _, channels, height, width = images.shape
    strip = np.ones((height, slots * (width + pad) - pad, channels), dtype=np.float32)
    shown = np.clip((images[:slots] + 1.0) / 2.0, 0.0, 1.0)
    for i, image in enumerate(shown):
        strip[:, i * (width + pad) : i * (width + pad) + width] = np.transpose(image, (1, 2, 0))
    return strip


def _image_row(ax, images: np.ndarray | None, label: str, title: str | None = None) -> None:
    """One row of images (or a "no samples" note) on ``ax``; ``label`` on the left."""
    if images is None:
        ax.text(0.5, 0.5, f"no {label}", ha="center", va="center", transform=ax.transAxes)
        for spine in ax.spines.values():
            spine.set_visible(False)
    else:
        strip = _montage(images)
        if strip.shape[2] == 1:
            ax.imshow(strip[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(strip, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(label, fontsize=7)
    if title:
        ax.set_title(title, fontsize=7, loc="left")


def _trial_rows(
    run_dir: Path, row: pd.Series, title: str
) -> list[tuple[np.ndarray | None, str, str | None]]:
    """(images, label, title) rows for one trial: drafts (where saved) above its samples;
    the title goes on the top row of the pair."""
    drafts = _load_images(run_dir, row["drafts_path"])
    samples = _load_images(run_dir, row["samples_path"])
    if drafts is None:
        return [(samples, "samples", title)]
    return [(drafts, "drafts", title), (samples, "samples", None)]


def _image_figure(
    rows: list[tuple[np.ndarray | None, str, str | None]], suptitle: str | None = None
) -> Figure:
    height = 1.15 * max(len(rows), 1) + (0.3 if suptitle else 0.0)
    fig = _new_figure(max(6.0, 0.85 * N_GRID_IMAGES + 0.6), height)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    axes = fig.subplots(max(len(rows), 1), 1, squeeze=False)[:, 0]
    for ax, (images, label, title) in zip(axes, rows, strict=False):
        _image_row(ax, images, label, title)
    if not rows:
        axes[0].text(0.5, 0.5, "no samples", ha="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    return fig


def _one_line(title: str) -> str:
    return title.replace("\n", " — ", 1)


def _plot_image_samples(
    trials: pd.DataFrame,
    run_dir: Path,
    metric: str,
    cost_axis: str,
    stem: Path,
    metric_label: str | None,
) -> list[Path]:
    """Rows of images: the reference (if saved) on top, then per arm its best-quality trial and
    its cheapest trial (once if they are the same trial), each as the first
    ``N_GRID_IMAGES`` drafts (where saved) directly above the samples refined from them."""
    done = complete_trials(trials)
    done = done.loc[done[f"q.{metric}"].notna() & done[cost_axis].notna()]
    label = metric_label or metric
    rows: list[tuple[np.ndarray | None, str, str | None]] = []
    reference = _load_images(run_dir, "reference.npy")
    if reference is not None:
        rows.append((reference, "reference", "reference (held-out data)"))
    for arm in arm_order(trials):
        arm_rows = done.loc[done["arm"] == arm]
        if arm_rows.empty:
            continue
        best, cheapest = _best_and_cheapest(arm_rows, metric, cost_axis)
        picks = [("best", best), ("cheapest", cheapest)]
        if best.name == cheapest.name:
            picks = [("best = cheapest", best)]
        for kind, row in picks:
            rows += _trial_rows(
                run_dir, row, _one_line(_title(kind, row, metric, cost_axis, label))
            )
    return save_figure(_image_figure(rows), stem)


def safe_name(name: str) -> str:
    """A file-name-safe version of an arm name: ``warm_start[gmm,noised,ot]`` ->
    ``warm_start_gmm_noised_ot``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_.") or "arm"


def _budget_picks(front: pd.DataFrame, k: int = N_GRID_BUDGETS) -> pd.DataFrame:
    """Up to ``k`` trials along a front (cheapest first), always its cheapest and its best."""
    if len(front) <= k:
        return front
    return front.iloc[np.unique(np.round(np.linspace(0, len(front) - 1, k)).astype(int))]


def plot_arm_grids(
    trials: pd.DataFrame,
    run_dir: Path,
    metric: str,
    cost_axis: str,
    folder: Path,
    metric_label: str | None = None,
) -> list[Path]:
    """Image runs only (else nothing is written and ``[]`` returned): one
    ``folder/<safe arm name>.png`` per arm, the reference on top and then, for up to
    ``N_GRID_BUDGETS`` budgets along the arm's front on ``cost_axis`` (cheapest to best),
    the drafts row (where saved) above the samples refined from them."""
    if not images_in_run(trials, run_dir):
        return []
    label = metric_label or metric
    reference = _load_images(run_dir, "reference.npy")
    paths: list[Path] = []
    used: set[str] = set()
    for arm, front in arm_fronts(trials, metric, cost_axis).items():
        if front.empty:
            continue
        picks = _budget_picks(front)
        rows: list[tuple[np.ndarray | None, str, str | None]] = []
        if reference is not None:
            rows.append((reference, "reference", "reference (held-out data)"))
        for i, (_, row) in enumerate(picks.iterrows()):
            kind = f"budget {i + 1}/{len(picks)}"
            if i == 0:
                kind += " (cheapest)"
            if i == len(picks) - 1 and len(picks) > 1:
                kind += " (best)"
            rows += _trial_rows(
                run_dir, row, _one_line(_title(kind, row, metric, cost_axis, label))
            )
        if all(images is None for images, _, _ in rows):
            continue
        name, n = safe_name(arm), 2
        while name in used:  # two arms with the same safe name: keep both files
            name, n = f"{safe_name(arm)}-{n}", n + 1
        used.add(name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        suptitle = f"{arm}: {len(picks)} budget(s) along its {cost_axis} front, cheapest to best"
        _image_figure(rows, suptitle).savefig(path, dpi=150)
        paths.append(path)
    return paths
