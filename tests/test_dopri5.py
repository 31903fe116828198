"""dopri5 with a step size per sample: sample i is the same for any batch size (the per-sample
seed contract), accurate on closed forms, and its evaluations are counted per sample."""

from __future__ import annotations

import math

import torch

from lightning_modules.continuous.solvers import CountingVelocity, integrate, time_grid
from lightning_modules.core import seeding


def _stiff_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # Stiffer where |x| is large: with one shared step, the batch's largest |x| sets every step.
    return -5.0 * x.pow(3) + torch.sin(3.0 * x) * t.unsqueeze(1)


def test_sample_i_is_the_same_for_100_and_10000_samples():
    x0 = 2.0 * seeding.randn(10_000, 2, seed=0, stream="noise").double()
    small = integrate(CountingVelocity(_stiff_field), x0[:100], time_grid(0.0, 1), "dopri5", rtol=1e-2, atol=1e-2)
    large = integrate(CountingVelocity(_stiff_field), x0, time_grid(0.0, 1), "dopri5", rtol=1e-2, atol=1e-2)
    # Equal up to float rounding (torchdiffeq's shared-step dopri5 differed here by 3e-2).
    torch.testing.assert_close(large[:100], small, rtol=1e-9, atol=1e-9)


def test_each_sample_counts_its_own_evaluations():
    # dx/dt = -k x: a sample with k = 0 needs few steps, one with k = 50 many.
    rates = torch.tensor([[0.0], [50.0]], dtype=torch.float64)

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.zeros_like(x[:, 0]), -x[:, 0] * x[:, 1]], dim=1)  # column 0 holds k

    x0 = torch.cat([rates, torch.ones(2, 1, dtype=torch.float64)], dim=1)
    counters = [CountingVelocity(field) for _ in range(3)]
    both = integrate(counters[0], x0, time_grid(0.0, 1), "dopri5", rtol=1e-6, atol=1e-9)
    calm = integrate(counters[1], x0[:1], time_grid(0.0, 1), "dopri5", rtol=1e-6, atol=1e-9)
    stiff = integrate(counters[2], x0[1:], time_grid(0.0, 1), "dopri5", rtol=1e-6, atol=1e-9)
    assert counters[0].evals == counters[1].evals + counters[2].evals  # nobody pays for the other
    assert counters[1].evals < counters[2].evals
    assert abs(float(both[1, 1]) - math.exp(-50.0)) < 1e-6 and float(both[0, 1]) == 1.0
    torch.testing.assert_close(both, torch.cat([calm, stiff]), rtol=0, atol=0)
