"""Shared plumbing for the sample-based metrics: input checks and the bootstrap.

All metrics work on CPU float64 tensors of points, shape [n, d]. Bootstrap replicates
resample the *generated* samples x with replacement and keep the reference y fixed, so
the interval describes the sampling noise of the method's n samples.

Resamples are paired across trials: every metric draws its resample indices from a fresh
generator seeded with the trial's seed (:func:`resample_generator`), so replicate b of any
two trials with the same n and seed resamples the same sample indices. With per-sample seeds
(sample i of every method sees the same noise and draft), replicate b of the baseline and
replicate b of a method are one joint resample, which is what a speed-up's interval needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PointsLike = Tensor | np.ndarray


@dataclass(frozen=True)
class Estimate:
    """A metric value and its bootstrap replicates.

    Attributes:
        value: the metric on the full samples (data units unless the metric says otherwise).
        replicates: [n_boot] float64 values of the metric on resampled x; empty if n_boot == 0.
    """

    value: float
    replicates: Tensor


def as_points(points: PointsLike, *, name: str) -> Tensor:
    """Convert ``points`` to a CPU float64 tensor [n, d] and reject unusable input.

    Raises:
        ValueError: wrong rank, fewer than 2 points, or any non-finite row. A diverged
            sampler produces NaN/inf, and the caller records the trial as failed.
    """
    t = torch.as_tensor(points).detach().to(device="cpu", dtype=torch.float64)
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape [n, d]; got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 points; got {t.shape[0]}")
    bad = int((~torch.isfinite(t).all(dim=1)).sum())
    if bad:
        verb = "contain" if name.endswith("s") else "contains"
        raise ValueError(f"{name} {verb} {bad} non-finite rows (of {t.shape[0]})")
    return t


def check_pair(x: PointsLike, y: PointsLike) -> tuple[Tensor, Tensor]:
    """Validate generated samples x [n, d] and reference y [m, d]; same d required."""
    xt = as_points(x, name="samples")
    yt = as_points(y, name="reference")
    if xt.shape[1] != yt.shape[1]:
        raise ValueError(
            f"samples have d={xt.shape[1]} but reference has d={yt.shape[1]}; they must match"
        )
    return xt, yt


def make_generator(seed: int) -> torch.Generator:
    """A local CPU generator, so metrics never touch (or depend on) the global RNG."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def resample_generator(seed: int) -> torch.Generator:
    """The generator of the bootstrap resamples: fresh, seeded with ``seed`` only, so the
    indices do not depend on what else a metric drew (directions, subsets) before them."""
    return make_generator(seed)


def bootstrap_indices(n: int, n_boot: int, generator: torch.Generator) -> Tensor:
    """Indices [n_boot, n] drawn uniformly with replacement from range(n)."""
    return torch.randint(0, n, (n_boot, n), generator=generator)


def bootstrap_counts(n: int, n_boot: int, generator: torch.Generator) -> Tensor:
    """Multinomial counts [n_boot, n] (float64, rows sum to n): how often each of the
    n samples appears in each resample. Same law as :func:`bootstrap_indices`."""
    return counts_of(bootstrap_indices(n, n_boot, generator), n)


def counts_of(idx: Tensor, n: int) -> Tensor:
    """Multiplicities [B, n] (float64) of the resample indices ``idx`` [B, k] in range(n)."""
    counts = torch.zeros(idx.shape[0], n, dtype=torch.float64)
    counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))
    return counts


def percentile_interval(estimate: Estimate, ci: float) -> list[float]:
    """Percentile bootstrap interval ``[lo, hi]`` at coverage ``ci``, centred on the value.

    Distances are biased upwards under resampling (duplicated points add noise), so the raw
    percentiles of a near-zero distance often sit entirely above the value. We therefore
    shift the replicates by (value - mean(replicates)) before taking the percentiles: the
    width and skew come from the bootstrap, the location from the full-sample value.
    Every metric here is a nonnegative distance, so ``lo`` is clipped at 0.
    Returns ``[value, value]`` when there are no replicates.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1); got {ci}")
    reps = estimate.replicates
    if reps.numel() == 0:
        return [estimate.value, estimate.value]
    centred = reps - reps.mean() + estimate.value
    levels = torch.tensor([(1.0 - ci) / 2.0, (1.0 + ci) / 2.0], dtype=torch.float64)
    lo, hi = torch.quantile(centred, levels).tolist()
    return [max(float(lo), 0.0), float(hi)]


BOOT_SUFFIX = "_boot"  # quality key of a metric's replicates, moved to the record's quality_boot


def centred_replicates(estimate: Estimate) -> Tensor:
    """The replicates shifted by (value - mean) and clipped at 0, as :func:`percentile_interval`
    uses them: their percentiles are the interval. Empty if there are none."""
    reps = estimate.replicates
    if reps.numel() == 0:
        return reps
    return (reps - reps.mean() + estimate.value).clamp_min(0.0)


def boot_record(estimate: Estimate, digits: int = 6) -> list[float]:
    """The centred replicates as python floats rounded to ``digits`` significant digits (the
    record keeps B of them per metric; 6 digits keep trials.jsonl small and lose nothing a
    percentile of B <= 1000 replicates can see)."""
    return [float(f"{v:.{digits}g}") for v in centred_replicates(estimate).tolist()]


def split_boot(quality: dict) -> tuple[dict, dict]:
    """(quality without the ``<metric>_boot`` keys, ``{metric: replicates}``)."""
    boot = {k[: -len(BOOT_SUFFIX)]: v for k, v in quality.items() if k.endswith(BOOT_SUFFIX)}
    rest = {k: v for k, v in quality.items() if not k.endswith(BOOT_SUFFIX)}
    return rest, boot
