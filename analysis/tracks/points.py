"""The points track (2-D toy data): a scatter grid of samples, drafts in grey beneath."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.figures import new_figure, save_figure, trial_title
from analysis.picks import arm_picks
from analysis.style import colors_for
from analysis.tracks.renderer import Context, Renderer, register
from analysis.trials import arm_order

MAX_SCATTER_POINTS = 2000  # enough to see the shape; keeps PDFs small


def load_points(run_dir: Path, relpath: Any) -> np.ndarray | None:
    """A [n, 2] sample array (``.npy``) subsampled for plotting, or None if absent/unreadable."""
    if not (isinstance(relpath, str) and relpath.endswith(".npy")):
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


def plot_scatter_samples(ctx: Context) -> list[Path]:
    """``samples.png/.pdf``: a grid of 2-D scatters, the reference (``reference.npy``, if
    saved) on top, then per arm its best and its cheapest trial (``analysis.picks``), drafts
    (grey) under the samples where saved. Panels share the reference's limits."""
    run_dir, picks = ctx.run_dir, arm_picks(ctx.trials, ctx.metric, ctx.cost_axis)
    reference = load_points(run_dir, "reference.npy")
    limits = None
    if reference is not None:
        # Shared limits from the reference keep panels comparable and ignore outlier samples.
        lo, hi = np.percentile(reference, [0.5, 99.5], axis=0)
        pad = 0.15 * (hi - lo)
        limits = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    n_rows = len(picks) + (reference is not None)
    fig = new_figure(6, 2.8 * max(n_rows, 1))
    axes = fig.subplots(max(n_rows, 1), 2, squeeze=False)
    row_at = 0
    if reference is not None:
        _scatter_panel(axes[0, 0], reference, None, "reference", "k", limits)
        axes[0, 1].set_axis_off()
        row_at = 1
    colors = colors_for(arm_order(ctx.trials))
    for i, (arm, shown) in enumerate(picks.items(), start=row_at):
        for j, (kind, row) in enumerate(shown):
            _scatter_panel(
                axes[i, j],
                load_points(run_dir, row["samples_path"]),
                load_points(run_dir, row["drafts_path"]),
                trial_title(kind, row, ctx.metric, ctx.cost_axis),
                colors[arm],
                limits,
            )
        if len(shown) == 1:
            axes[i, 1].set_axis_off()
    if n_rows == 0:
        axes[0, 0].text(0.5, 0.5, "no samples", ha="center", transform=axes[0, 0].transAxes)
    return save_figure(fig, ctx.out / "samples")


class PointsRenderer(Renderer):
    track = "points"
    floor_label = "reference floor (noise)"

    def samples(self, ctx: Context) -> list[Path]:
        return plot_scatter_samples(ctx)


register(PointsRenderer())
