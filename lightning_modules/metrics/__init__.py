"""Sample-based quality metrics for generated 2-D (toy) data; all are lower-is-better.

Example:
    >>> import torch
    >>> from lightning_modules.metrics import quality, reference_floor
    >>> g = torch.Generator().manual_seed(0)
    >>> ref = torch.randn(1000, 2, generator=g, dtype=torch.float64)
    >>> gen = torch.randn(1000, 2, generator=g, dtype=torch.float64) + 0.5
    >>> q = quality(gen, ref, n_boot=20)
    >>> sorted(q)
    ['energy', 'energy_ci', 'hist_tv', 'hist_tv_ci', 'sw2', 'sw2_ci']
    >>> q["sw2"] > reference_floor(ref[:500], ref[500:])["sw2"]
    True

Metrics (see each module for the formula and units):
    sw2      sliced Wasserstein-2, data units            (``sliced.py``)
    energy   energy distance, V-statistic, data units    (``energy.py``)
    hist_tv  TV of 2-D histograms, probability in [0, 1] (``histogram.py``)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._common import BOOT_SUFFIX, Estimate, PointsLike, boot_record, check_pair, percentile_interval
from .energy import energy
from .histogram import hist_tv
from .sliced import sw2

__all__ = [
    "METRICS",
    "Estimate",
    "available_metrics",
    "energy",
    "hist_tv",
    "quality",
    "reference_floor",
    "sw2",
]

MetricFn = Callable[..., Estimate]
"""A metric: ``fn(x, y, *, n_boot: int, seed: int) -> Estimate``."""

METRICS: dict[str, MetricFn] = {"sw2": sw2, "energy": energy, "hist_tv": hist_tv}
DEFAULT_METRICS: tuple[str, ...] = ("sw2", "energy", "hist_tv")


def available_metrics() -> list[str]:
    """Registered metric names, sorted."""
    return sorted(METRICS)


def _resolve(metrics: Sequence[str]) -> list[str]:
    """Check every name before any work, so a typo fails fast with the allowed list."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name not in METRICS:
            allowed = ", ".join(available_metrics())
            raise ValueError(f"unknown metric {name!r}; allowed: {allowed}")
    return names


def quality(
    samples: PointsLike,
    reference: PointsLike,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_boot: int = 100,
    ci: float = 0.95,
    seed: int = 0,
    options: dict[str, dict] | None = None,
    replicates: bool = False,
    boot: Sequence[str] | None = None,
) -> dict[str, float | list[float]]:
    """Distances from generated ``samples`` [n, d] to ``reference`` [m, d], with CIs.

    Every metric takes its bins/bounds (hist_tv) from ``reference`` only, and uses its
    own generator seeded with ``seed``, so a metric's value does not depend on which
    other metrics are requested and repeated calls give identical numbers.

    Args:
        metrics: names from :func:`available_metrics`.
        n_boot: bootstrap replicates resampling ``samples`` (``reference`` fixed); 0 gives
            a degenerate interval [value, value].
        ci: coverage of the bootstrap interval, in (0, 1).
        seed: fixes sw2 directions, energy subsets and all resamples.
        options: per-metric keyword options, e.g. ``{"hist_tv": {"bins": 32}}``.
        replicates: also return each metric's ``n_boot`` centred replicates as
            ``name + "_boot"`` (``_common.boot_record``; paired across calls with one seed).
        boot: the metrics that get the bootstrap (None: all); the others get their value
            alone, with no ``name + "_ci"`` and no replicates (sw2's bootstrap costs
            3x its value at n = 4,000).

    Returns:
        ``{name: value, name + "_ci": [lo, hi]}`` with python floats (and ``name_boot``).

    Raises:
        ValueError: unknown metric name, bad shapes, or non-finite rows in either input
            (a diverged sampler; the caller records the trial as failed).
    """
    names = _resolve(metrics)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    x, y = check_pair(samples, reference)
    out: dict[str, float | list[float]] = {}
    for name in names:
        booted = boot is None or name in boot
        est = METRICS[name](x, y, n_boot=n_boot if booted else 0, seed=seed, **(options or {}).get(name, {}))
        out[name] = est.value
        if booted:
            out[name + "_ci"] = percentile_interval(est, ci)
        if replicates and booted:
            out[name + BOOT_SUFFIX] = boot_record(est)
    return out


def reference_floor(
    reference_a: PointsLike,
    reference_b: PointsLike,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
    options: dict[str, dict] | None = None,
) -> dict[str, float]:
    """The metrics between two independent reference draws: the sampling-noise floor.

    ``reference_a`` plays the role of the samples and ``reference_b`` of the reference
    (bins and bounds come from ``reference_b``, as in :func:`quality`). The floor depends
    on the sample sizes, so draw ``reference_a`` with the same n as the trial's samples
    and pass the trial's reference as ``reference_b``.

    Returns:
        ``{name: value}`` with python floats (no intervals).
    """
    q = quality(reference_a, reference_b, metrics=metrics, n_boot=0, seed=seed, options=options)
    return {name: float(q[name]) for name in _resolve(metrics)}


# Image metrics (FID/KID on feature-classifier features) live in `.fid`, imported on demand:
# it pulls in torchmetrics' image package, which the toy track does not need.
IMAGE_METRICS: tuple[str, ...] = ("fid", "kid")
