"""Paper sample grids: for an image study, one square grid of samples per arm (its best
trial), the grids in rows of up to six across a two-column paper's width, each titled with
its arm and quality and framed in its family's colour; warm-start arms show their drafts'
grid beside the samples. Other tracks: no figure (None)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis.figures import new_figure, show_image
from analysis.labels import short_label
from analysis.picks import best_by_arm
from analysis.study import Study
from analysis.style import family_styles

GRID = 4  # images per side of one arm's grid (the first GRID**2 saved samples)
COLUMNS = 6  # grids per row of the figure
WIDTH_IN = 7.0


def _images(run_dir: Path, relpath: object) -> np.ndarray | None:
    """The first GRID**2 images of a saved [n, C, H, W] array in [-1, 1], or None."""
    if not (isinstance(relpath, str) and relpath.endswith(".npy")):
        return None
    try:
        array = np.load(run_dir / relpath, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.ndim != 4 or array.shape[1] not in (1, 3) or array.shape[0] == 0:
        return None
    return np.array(array[: GRID * GRID], dtype=np.float32)


def grid_image(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """[k, C, H, W] in [-1, 1] -> one [GRID*(H+pad)-pad, GRID*(W+pad)-pad, C] square in [0, 1];
    empty cells and separators white."""
    _, channels, height, width = images.shape
    side = (GRID * (height + pad) - pad, GRID * (width + pad) - pad)
    out = np.ones((*side, channels), dtype=np.float32)
    for i, image in enumerate(np.clip((images + 1.0) / 2.0, 0.0, 1.0)[: GRID * GRID]):
        r, c = divmod(i, GRID)
        out[r * (height + pad):r * (height + pad) + height, c * (width + pad):c * (width + pad) + width] = \
            np.transpose(image, (1, 2, 0))
    return out


def samples_figure(study: Study) -> Figure | None:
    """The study's sample grids as a Figure, or None where its samples are not images."""
    picks = best_by_arm(study.trials, study.metric)
    panels = []  # (arm, kind, images, row)
    for arm, row in picks.items():
        samples = _images(study.run_dir, row.get("samples_path"))
        if samples is None:
            continue
        drafts = None if row.get("drafter_alone") else _images(study.run_dir, row.get("drafts_path"))
        if drafts is not None:  # a drafter alone: its drafts are its samples
            panels.append((arm, "drafts", drafts, row))
        panels.append((arm, "samples", samples, row))
    if not panels:
        return None
    styles = family_styles(list(study.families().values()))
    families = study.families()
    label = short_label(study.metric, study.summary.get("metric_info") or {})
    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = new_figure(WIDTH_IN, rows * (WIDTH_IN / columns) * 1.12)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (arm, kind, images, row) in zip(axes, panels, strict=False):
        show_image(ax, grid_image(images))
        color = styles[families[arm]][0]
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(1.5)
        value = row.get(f"q.{study.metric}")
        title = f"{arm}\n{kind}" if kind == "drafts" else f"{arm}\n{label} {value:.3g}"
        ax.set_title(title, fontsize=6)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig
