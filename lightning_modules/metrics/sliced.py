"""Sliced Wasserstein-2 distance between two empirical distributions.

SW2(x, y) = sqrt( mean_p W2(u_p . x, u_p . y)^2 ) over P random unit directions u_p, so the
value is in data units. The directions come in random orthonormal frames (d at a time):
each u_p is uniform on the sphere, and within a frame sum_p (u_p . mu)^2 = |mu|^2, which
removes the Monte-Carlo error of the directions for a pure mean shift. So for Gaussians
with equal covariance and mean gap mu, SW2 = |mu| / sqrt(d) exactly (|mu| / sqrt(2) in 2-D),
up to sample noise, when P is a multiple of d.

The 1-D W2 between empirical distributions of sizes n and m is computed exactly: both
quantile functions are step functions with jumps at i/n and j/m, so we integrate the
squared difference over the merged set of breakpoints (at most n + m - 1 pieces).
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

# Elements per bootstrap chunk ([chunk, P, n] float64, ~32 MiB): bounds memory at large n.
_CHUNK_ELEMENTS = 1 << 22


def random_directions(d: int, n_projections: int, generator: torch.Generator) -> Tensor:
    """Unit vectors [d, P] from random orthonormal frames (QR of Gaussians), float64."""
    n_frames = -(-n_projections // d)
    gauss = torch.randn(n_frames, d, d, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)
    # Fixing the signs by diag(r) makes each frame Haar-distributed (plain QR is not).
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q.permute(1, 0, 2).reshape(d, n_frames * d)[:, :n_projections]


def quantile_pieces(n: int, m: int) -> tuple[Tensor, Tensor, Tensor]:
    """Piecewise-constant pairing of two empirical quantile functions.

    Returns (ix, iy, w): on the k-th piece of [0, 1) the quantile functions equal the
    ix[k]-th smallest of n values and the iy[k]-th smallest of m values; w[k] is the
    piece length (sums to 1). Integer arithmetic on the common denominator n*m keeps
    breakpoints exact (no float near-duplicates).
    """
    cuts = torch.cat(
        [
            torch.arange(n, dtype=torch.int64) * m,
            torch.arange(m, dtype=torch.int64) * n,
            torch.tensor([n * m], dtype=torch.int64),
        ]
    )
    cuts = torch.unique(cuts)  # sorted
    left, right = cuts[:-1], cuts[1:]
    ix = left // m
    iy = left // n
    w = (right - left).to(torch.float64) / float(n * m)
    return ix, iy, w


def _bootstrap_sw2(
    xs: Tensor, order: Tensor, ys_q: Tensor, ix: Tensor, w: Tensor, counts: Tensor
) -> Tensor:
    """SW2 [B] of each resample of x (multiplicities ``counts`` [B, n]) against y.

    xs [P, n] and ``order`` are x's sorted projections and their argsort; ys_q [P, K] is
    y's quantile function on the pieces (ix, w) of :func:`quantile_pieces`.

    A resample of sorted values is the sorted values repeated by their counts, so x_(j)
    (the j-th smallest, j = 1..n) fills quantile levels [C_{j-1}, C_j) / n, C being the
    cumulative counts in sorted order. Expanding the square over those levels,
        W2^2 = sum_j (c_j / n) x_(j)^2 - 2 sum_j x_(j) (Y(C_j) - Y(C_{j-1})) + int Fy^-1(q)^2
    with Y(C) the integral of y's quantile function on [0, C / n]. Summing by parts, the
    middle sum is sum_{j<n} Y(C_j) (x_(j) - x_(j+1)) + x_(n) Y(n): one cumsum and one gather
    per replicate, linear time, no re-sort and no materialised resample.
    """
    n_proj, n = xs.shape
    pieces = w * ys_q  # [P, K] integral of Fy^-1 over each piece
    y_sq_total = (pieces * ys_q).sum(dim=-1)  # [P]
    cum = torch.cat([torch.zeros(n_proj, 1, dtype=torch.float64), pieces.cumsum(-1)], dim=-1)
    # Pieces where x's quantile steps up begin exactly at the levels j / n.
    steps = torch.cat([torch.ones(1, dtype=torch.bool), ix[1:] != ix[:-1]]).nonzero().squeeze(1)
    # table[:, C] = Y(C) for C = 0..n: Y(0) = 0, Y(j) at x's steps, Y(n) = the total.
    table = torch.cat([cum[:, :1], cum[:, steps[1:]], cum[:, -1:]], dim=-1)  # [P, n + 1]
    y_total = cum[:, -1]  # [P]
    dx = xs[:, :-1] - xs[:, 1:]  # [P, n - 1]
    x_sq = counts @ (xs * xs).gather(1, order.argsort(dim=1)).T / n  # [B, P], unsorted order

    reps = torch.empty(counts.shape[0], dtype=torch.float64)
    chunk = max(1, _CHUNK_ELEMENTS // (n_proj * n))
    for start in range(0, counts.shape[0], chunk):
        c = counts[start : start + chunk]  # [b, n]
        upper = c[:, order[:, :-1]].cumsum(-1).long()  # [b, P, n - 1]: C_j, j < n
        y_at = torch.gather(table.expand(c.shape[0], -1, -1), 2, upper)
        cross = (y_at * dx).sum(-1) + xs[:, -1] * y_total  # [b, P]
        w2_sq = x_sq[start : start + c.shape[0]] - 2.0 * cross + y_sq_total
        reps[start : start + c.shape[0]] = w2_sq.clamp_min(0.0).mean(-1).sqrt()
    return reps


def sw2(
    x: PointsLike,
    y: PointsLike,
    *,
    n_boot: int = 0,
    seed: int = 0,
    n_projections: int = 128,
    n_boot_projections: int = 32,
) -> Estimate:
    """Sliced Wasserstein-2 between samples x [n, d] and reference y [m, d], data units.

    Args:
        n_boot: bootstrap replicates (resampling x with replacement; y fixed).
        seed: fixes the directions and, separately, the resamples.
        n_projections: number of random directions P for the value.
        n_boot_projections: directions (the first frames of the P) used by each bootstrap
            replicate. Replicates cost O(n_boot * P * n); the interval is centred on the
            value, so only the spread is taken from them, and sample noise, not the
            direction count, sets that spread.
    """
    x, y = check_pair(x, y)
    n, m = x.shape[0], y.shape[0]
    gen = make_generator(seed)
    u = random_directions(x.shape[1], n_projections, gen)
    xs, order = torch.sort((x @ u).T, dim=-1)  # [P, n]; projections computed once
    ys, _ = torch.sort((y @ u).T, dim=-1)  # [P, m]
    ix, iy, w = quantile_pieces(n, m)
    ys_q = ys[:, iy]  # [P, K]
    diff = xs[:, ix] - ys_q
    value = float((diff * diff * w).sum(-1).mean().sqrt())

    reps = torch.empty(n_boot, dtype=torch.float64)
    if n_boot > 0:
        counts = bootstrap_counts(n, n_boot, resample_generator(seed))  # [B, n]
        k = min(n_projections, n_boot_projections)
        reps = _bootstrap_sw2(xs[:k], order[:k], ys_q[:k], ix, w, counts)
    return Estimate(value=value, replicates=reps)
