"""Total-variation distance between 2-D histograms on bins fixed by the reference.

    TV(x, y) = 0.5 * sum_k |p_k - q_k|  in [0, 1] (unitless, a probability mass)

over ``bins x bins`` cells plus one "outside" cell. The grid spans the reference's
bounding box expanded by ``margin`` of its extent on each side, so it depends on the
reference only: every trial of a study scored against the same reference uses the same
bins. Samples outside the grid land in the outside cell, so mass a sampler throws away
counts as error instead of vanishing. Unlike sliced distances, TV sees fine structure
(thin arms, gaps) at the bin scale; its floor for two draws of n points grows with the
number of bins per point, which the reference floor shows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._common import Estimate, PointsLike, bootstrap_indices, check_pair, resample_generator


def grid_bounds(reference: Tensor, margin: float = 0.05) -> tuple[Tensor, Tensor]:
    """Lower and upper corners [d] of the reference box, widened by ``margin`` x extent.

    A degenerate axis (all reference values equal) gets a unit extent so bins exist.
    """
    lo = reference.min(dim=0).values
    hi = reference.max(dim=0).values
    extent = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return lo - margin * extent, hi + margin * extent


def bin_index(points: Tensor, lo: Tensor, hi: Tensor, bins: int) -> Tensor:
    """Flat cell index [n] in [0, bins**2]; index bins**2 is the outside cell."""
    scaled = (points - lo) / (hi - lo) * bins
    inside = ((points >= lo) & (points <= hi)).all(dim=1)
    # A point exactly on the upper edge belongs to the last bin, not beyond it.
    cell = scaled.floor().clamp(0, bins - 1).to(torch.int64)
    flat = cell[:, 0] * bins + cell[:, 1]
    return torch.where(inside, flat, torch.full_like(flat, bins * bins))


def hist_tv(
    x: PointsLike,
    y: PointsLike,
    *,
    n_boot: int = 0,
    seed: int = 0,
    bins: int = 48,
    margin: float = 0.05,
) -> Estimate:
    """TV distance between 2-D histograms of samples x [n, 2] and reference y [m, 2].

    Args:
        n_boot: bootstrap replicates (resampling x with replacement; y fixed).
        seed: fixes the resamples (the value itself involves no randomness).
        bins: cells per axis; the grid has bins**2 cells plus the outside cell.
        margin: widening of the reference box on each side, as a fraction of its extent.
    Raises:
        ValueError: if d != 2.
    """
    x, y = check_pair(x, y)
    if x.shape[1] != 2:
        raise ValueError(f"hist_tv needs 2-D points; got d={x.shape[1]} (allowed: d=2)")
    if bins < 1:
        raise ValueError(f"bins must be >= 1; got {bins}")
    lo, hi = grid_bounds(y, margin)
    cells = bins * bins + 1
    x_cell = bin_index(x, lo, hi, bins)  # binned once; resamples reuse it
    q = torch.bincount(bin_index(y, lo, hi, bins), minlength=cells).to(torch.float64)
    q = q / y.shape[0]
    p = torch.bincount(x_cell, minlength=cells).to(torch.float64) / x.shape[0]
    value = float(0.5 * (p - q).abs().sum())

    reps = torch.empty(n_boot, dtype=torch.float64)
    if n_boot > 0:
        resampled_cells = x_cell[bootstrap_indices(x.shape[0], n_boot, resample_generator(seed))]  # [B, n]
        hist = torch.zeros(n_boot, cells, dtype=torch.float64)
        hist.scatter_add_(1, resampled_cells, torch.ones_like(resampled_cells, dtype=hist.dtype))
        reps = 0.5 * (hist / x.shape[0] - q).abs().sum(dim=1)
    return Estimate(value=value, replicates=reps)
