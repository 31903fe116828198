"""Energy distance between two empirical distributions (V-statistic form).

    E(x, y) = 2 mean_ij |x_i - y_j| - mean_ij |x_i - x_j| - mean_ij |y_i - y_j|

with Euclidean |.|, all means over every ordered pair *including* i == j (the V-statistic).
It is always >= 0 and is 0 only for identical empirical distributions; its expectation
for two independent draws from one law is about (E|X-X'|)(1/n + 1/m) > 0, which the
reference floor shows. Units: data units (a mean distance), not squared.

Memory is O(n^2): above ``max_n`` points, x and/or y are replaced by a fixed subset of
``max_n`` rows (a seeded random permutation, the same on every call with the same seed).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._common import (
    Estimate,
    PointsLike,
    bootstrap_counts,
    check_pair,
    make_generator,
    resample_generator,
)

# Replicates per matrix product: [chunk, n] @ [n, n] keeps temporaries small.
_BOOT_CHUNK = 25


def _pairwise(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances [len(a), len(b)], exact (no |a|^2 + |b|^2 - 2ab cancellation,
    which turns zero self-distances into ~1e-8 noise)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _subset(points: Tensor, max_n: int, generator: torch.Generator) -> Tensor:
    """The first ``max_n`` rows of a seeded permutation, or all rows if there are fewer."""
    if points.shape[0] <= max_n:
        return points
    keep = torch.randperm(points.shape[0], generator=generator)[:max_n]
    return points[keep]


def energy(
    x: PointsLike,
    y: PointsLike,
    *,
    n_boot: int = 0,
    seed: int = 0,
    max_n: int = 2000,
) -> Estimate:
    """Energy distance (V-statistic) between samples x [n, d] and reference y [m, d].

    Args:
        n_boot: bootstrap replicates (resampling the possibly subsetted x; y fixed).
        seed: fixes the subsets (x first, then y) and, separately, the resamples.
        max_n: largest number of points of x or y used; larger inputs are subsetted.
    """
    x, y = check_pair(x, y)
    gen = make_generator(seed)
    x = _subset(x, max_n, gen)
    y = _subset(y, max_n, gen)
    n = x.shape[0]

    d_xx = _pairwise(x, x)
    # Row means, then means, for all three terms: identical inputs then give exactly 0.
    cross = _pairwise(x, y).mean(dim=1)  # [n]: mean distance of each x_i to all of y
    within_y = _pairwise(y, y).mean(dim=1).mean()
    value = float(2.0 * cross.mean() - d_xx.mean(dim=1).mean() - within_y)

    reps = torch.empty(n_boot, dtype=torch.float64)
    if n_boot > 0:
        # A resample with counts c is the weighting w = c / n of the original points, so
        # every replicate is a quadratic form in the precomputed distances: no new cdist.
        weights = bootstrap_counts(n, n_boot, resample_generator(seed)) / n  # [B, n]
        for start in range(0, n_boot, _BOOT_CHUNK):
            wb = weights[start : start + _BOOT_CHUNK]
            within_x = ((wb @ d_xx) * wb).sum(dim=1)
            reps[start : start + wb.shape[0]] = 2.0 * (wb @ cross) - within_x - within_y
    return Estimate(value=value, replicates=reps)
