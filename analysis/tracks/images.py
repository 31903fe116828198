"""The images track: rows of images (drafts above the samples refined from them) for each
arm's best and cheapest trial, and one grid per arm at a few budgets along its front.

Samples are saved as ``.npy`` arrays [n, C, H, W] in [-1, 1] (C = 1 or 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.figures import new_figure, save_figure, show_image, trial_title
from analysis.fronts import arm_fronts
from analysis.paper_samples import samples_figure
from analysis.picks import arm_picks, budget_picks
from analysis.records import safe_name
from analysis.study import Study
from analysis.tracks.renderer import Context, Renderer, register

N_GRID_IMAGES = 8  # images per row of an image grid (the first ones saved, same indices)
N_GRID_BUDGETS = 4  # budgets along an arm's front in its per-arm grid


def _is_image_shape(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) == 4 and shape[1] in (1, 3) and shape[0] > 0


def _load_images(run_dir: Path, relpath: Any, n: int = N_GRID_IMAGES) -> np.ndarray | None:
    """The first ``n`` images of a saved [n, C, H, W] array as float32, or None."""
    if not (isinstance(relpath, str) and relpath.endswith(".npy")):
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
        show_image(ax, _montage(images))
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
    fig = new_figure(max(6.0, 0.85 * N_GRID_IMAGES + 0.6), height)
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


def plot_image_samples(ctx: Context) -> list[Path]:
    """``samples.png/.pdf``: rows of images, the reference (if saved) on top, then per arm its
    best and its cheapest trial (``analysis.picks``; once if the same trial), each as the
    first ``N_GRID_IMAGES`` drafts (where saved) directly above the samples refined from them."""
    rows: list[tuple[np.ndarray | None, str, str | None]] = []
    reference = _load_images(ctx.run_dir, "reference.npy")
    if reference is not None:
        rows.append((reference, "reference", "reference (held-out data)"))
    for shown in arm_picks(ctx.trials, ctx.metric, ctx.cost_axis).values():
        for kind, row in shown:
            title = trial_title(kind, row, ctx.metric, ctx.cost_axis, ctx.label)
            rows += _trial_rows(ctx.run_dir, row, _one_line(title))
    return save_figure(_image_figure(rows), ctx.out / "samples")


def plot_arm_grids(ctx: Context, folder: Path) -> list[Path]:
    """One ``folder/<safe arm name>.png`` per arm with images: the reference on top and
    then, for up to ``N_GRID_BUDGETS`` budgets along the arm's front on the cost axis
    (cheapest to best), the drafts row (where saved) above the samples refined from them."""
    reference = _load_images(ctx.run_dir, "reference.npy")
    paths: list[Path] = []
    for arm, front in arm_fronts(ctx.trials, ctx.metric, ctx.cost_axis).items():
        if front.empty:
            continue
        picks = budget_picks(front, N_GRID_BUDGETS)
        rows: list[tuple[np.ndarray | None, str, str | None]] = []
        if reference is not None:
            rows.append((reference, "reference", "reference (held-out data)"))
        for i, (_, row) in enumerate(picks.iterrows()):
            kind = f"budget {i + 1}/{len(picks)}"
            if i == 0:
                kind += " (cheapest)"
            if i == len(picks) - 1 and len(picks) > 1:
                kind += " (best)"
            title = trial_title(kind, row, ctx.metric, ctx.cost_axis, ctx.label)
            rows += _trial_rows(ctx.run_dir, row, _one_line(title))
        if all(images is None for images, _, _ in rows):
            continue
        name = safe_name(arm)  # distinct for distinct arm names
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        suptitle = (
            f"{arm}: {len(picks)} budget(s) along its {ctx.cost_axis} front, cheapest to best"
        )
        _image_figure(rows, suptitle).savefig(path, dpi=150)
        paths.append(path)
    return paths


class ImagesRenderer(Renderer):
    track = "images"
    floor_label = "reference floor (noise)"

    def samples(self, ctx: Context) -> list[Path]:
        files = plot_image_samples(ctx) + plot_arm_grids(ctx, ctx.out / "grids")
        grids = samples_figure(Study(ctx.run_dir, ctx.trials, ctx.summary))  # the paper's layout
        return files + (save_figure(grids, ctx.out / "sample_grids") if grids is not None else [])


register(ImagesRenderer())
