"""A user's own track, loaded with `plugin=conf/plugins/mixtures_1d.py data=mix1d`: a 1-D
Gaussian mixture with its own metric, the 1-D Wasserstein-1 distance (`w1`). It reuses the
built-in drafters, flow-matching refiners and methods for vector data.

    wsbench sweep experiment=smoke plugin=conf/plugins/mixtures_1d.py data=mix1d \
        eval.metrics=[w1] eval.primary_metric=w1 sweep.study=mix1d
"""

import numpy as np
import torch

from lightning_modules.core.registry import Knob, register_track
from lightning_modules.metrics._common import (
    Estimate,
    bootstrap_indices,
    make_generator,
    percentile_interval,
)
from lightning_modules.tracks.base import MetricInfo, Reference, Track

MEANS, STDS, WEIGHTS = np.array([-2.0, 0.5, 2.5]), np.array([0.3, 0.5, 0.2]), np.array([0.3, 0.5, 0.2])


def mixture(n: int, seed: list[int]) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    k = rng.choice(len(WEIGHTS), size=n, p=WEIGHTS)
    return torch.as_tensor(rng.normal(MEANS[k], STDS[k]), dtype=torch.float32).unsqueeze(1)


class MixtureData:
    """Train/val draws and held-out `reference(n, seed)` draws (disjoint seed streams)."""

    def __init__(self, n_train: int, n_val: int, seed: int) -> None:
        self.seed = seed
        self.train, self.val = mixture(n_train, [seed, 0]), mixture(n_val, [seed, 1])
        self.shape = (1,)

    def reference(self, n: int, seed: int) -> torch.Tensor:
        return mixture(n, [self.seed, 2, seed])


def _w1(x: torch.Tensor, y_sorted: torch.Tensor, q: torch.Tensor) -> float:
    return float((torch.quantile(x, q) - torch.quantile(y_sorted, q)).abs().mean())


def w1(x: torch.Tensor, y: torch.Tensor, *, n_boot: int, seed: int) -> Estimate:
    """Wasserstein-1 between 1-D samples: the mean gap of their quantile functions (1,000 levels)."""
    x, y = x.double().flatten(), y.double().flatten()
    if not torch.isfinite(x).all():
        raise ValueError("samples contain non-finite values")
    q = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
    reps = [_w1(x[idx], y, q) for idx in bootstrap_indices(len(x), n_boot, make_generator(seed))]
    return Estimate(_w1(x, y, q), torch.tensor(reps, dtype=torch.float64))


class Mixtures1D(Track):
    name = "mix1d"
    kind = "vector"
    datasets = ("mix1d",)
    data_knobs = (Knob("n_train", int, 20000, low=2), Knob("n_val", int, 2000, low=1), Knob("seed", int, 0, low=0))

    def metric_info(self, name: str) -> MetricInfo | None:
        return MetricInfo("1-D Wasserstein-1") if name == "w1" else None

    def metric_names(self) -> str:
        return "w1"

    def data_module(self, cfg) -> MixtureData:  # noqa: ANN001
        return MixtureData(cfg.data.n_train, cfg.data.n_val, cfg.data.seed)

    def reference(self, cfg, models) -> Reference:  # noqa: ANN001
        dm, e = models.data(cfg), cfg.eval
        ref = dm.reference(e.n_samples, e.reference_seed)
        floor = w1(dm.reference(e.n_samples, e.reference_seed + 1), ref, n_boot=0, seed=cfg.seed).value
        return Reference(ref, {"w1": floor})

    def quality(self, cfg, models, samples: torch.Tensor, ref: Reference) -> dict:  # noqa: ANN001
        est = w1(samples, ref.samples, n_boot=cfg.eval.n_boot, seed=cfg.seed)
        return {"w1": est.value, "w1_ci": percentile_interval(est, 0.95)}


register_track(Mixtures1D())
