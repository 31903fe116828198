"""Probability paths against closed forms: states, velocities, ends, start states, times."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.continuous.paths import STARTS, linear_path, sample_times, warm_start_state

T0S = (0.0, 0.1, 0.5, 0.9)


def draws(seed: int, n: int = 64, dim: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_t0 = torch.randn(n, dim, generator=g, dtype=torch.float64)
    x1 = 2.0 * torch.randn(n, dim, generator=g, dtype=torch.float64) + 1.0
    e = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return x_t0, x1, e


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("t0", T0S)
def test_linear_path_matches_closed_form(seed: int, t0: float) -> None:
    x_t0, x1, _ = draws(seed)
    g = torch.Generator().manual_seed(100 + seed)
    t = t0 + (1 - t0) * torch.rand(x1.shape[0], generator=g, dtype=torch.float64)
    x_t, u = linear_path(x_t0, x1, t, t0)
    assert x_t.shape == x1.shape and u.shape == x1.shape
    # Hand-written, per row and per coordinate, in plain Python floats.
    for i in range(0, x1.shape[0], 7):
        ti = float(t[i])
        for j in range(x1.shape[1]):
            a, b = float(x_t0[i, j]), float(x1[i, j])
            want_x = ((1 - ti) * a + (ti - t0) * b) / (1 - t0)
            want_u = (b - a) / (1 - t0)
            assert float(x_t[i, j]) == pytest.approx(want_x, rel=1e-12, abs=1e-12)
            assert float(u[i, j]) == pytest.approx(want_u, rel=1e-12, abs=1e-12)


def test_linear_path_per_example_t0() -> None:
    x_t0, x1, _ = draws(3, n=4)
    t0 = torch.tensor([0.0, 0.25, 0.5, 0.75], dtype=torch.float64)
    t = torch.tensor([0.5, 0.5, 0.75, 0.875], dtype=torch.float64)
    x_t, u = linear_path(x_t0, x1, t, t0)
    for i in range(4):
        span = 1 - t0[i]
        want_x = ((1 - t[i]) * x_t0[i] + (t[i] - t0[i]) * x1[i]) / span
        torch.testing.assert_close(x_t[i], want_x, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(u[i], (x1[i] - x_t0[i]) / span, rtol=1e-12, atol=1e-12)
    # Row 0 has t0 = 0: (1 - t) x_t0 + t x1 with t = 0.5 is the plain midpoint.
    torch.testing.assert_close(x_t[0], 0.5 * (x_t0[0] + x1[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t0", T0S)
def test_path_ends_are_source_and_data(t0: float) -> None:
    x_t0, x1, _ = draws(4)
    n = x1.shape[0]
    at_start, _ = linear_path(x_t0, x1, torch.full((n,), t0, dtype=torch.float64), t0)
    at_end, _ = linear_path(x_t0, x1, torch.ones(n, dtype=torch.float64), t0)
    torch.testing.assert_close(at_start, x_t0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(at_end, x1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t0", T0S)
def test_finite_difference_velocity(t0: float) -> None:
    x_t0, x1, _ = draws(5)
    n = x1.shape[0]
    g = torch.Generator().manual_seed(7)
    t = t0 + 0.1 * (1 - t0) + 0.8 * (1 - t0) * torch.rand(n, generator=g, dtype=torch.float64)
    h = 1e-6
    plus, u = linear_path(x_t0, x1, t + h, t0)
    minus, _ = linear_path(x_t0, x1, t - h, t0)
    torch.testing.assert_close((plus - minus) / (2 * h), u, rtol=1e-6, atol=1e-6)
    # u does not depend on t (a straight path).
    _, u_other = linear_path(x_t0, x1, torch.full((n,), t0, dtype=torch.float64), t0)
    torch.testing.assert_close(u_other, u, rtol=0, atol=0)


@pytest.mark.parametrize("t0", T0S)
def test_noised_start_equals_noise_path_when_draft_is_data(t0: float) -> None:
    _, x1, e = draws(6)
    x_t0 = warm_start_state(x1, e, t0, "noised")
    torch.testing.assert_close(x_t0, t0 * x1 + (1 - t0) * e, rtol=1e-12, atol=1e-12)
    # The noise-start path (t0 = 0, source e) evaluated at t = t0 is the same state.
    n = x1.shape[0]
    noise_path_at_t0, _ = linear_path(e, x1, torch.full((n,), t0, dtype=torch.float64), 0.0)
    torch.testing.assert_close(x_t0, noise_path_at_t0, rtol=1e-12, atol=1e-12)
    # ...and the warm path from there has the noise path's velocity x1 - e when t0 < 1.
    t = torch.full((n,), 0.5 * (1 + t0), dtype=torch.float64)
    x_warm, u_warm = linear_path(x_t0, x1, t, t0)
    x_noise, u_noise = linear_path(e, x1, t, 0.0)
    torch.testing.assert_close(x_warm, x_noise, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(u_warm, u_noise, rtol=1e-10, atol=1e-10)


def test_draft_start_is_the_draft_and_ignores_noise() -> None:
    d, _, e = draws(8)
    for t0 in T0S:
        torch.testing.assert_close(warm_start_state(d, e, t0, "draft"), d, rtol=0, atol=0)
        torch.testing.assert_close(warm_start_state(d, 5 * e, t0, "draft"), d, rtol=0, atol=0)


def test_noised_start_per_example_t0() -> None:
    d, _, e = draws(9, n=3)
    t0 = torch.tensor([0.0, 0.5, 0.9], dtype=torch.float64)
    got = warm_start_state(d, e, t0, "noised")
    torch.testing.assert_close(got[0], e[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], 0.5 * d[1] + 0.5 * e[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[2], 0.9 * d[2] + 0.1 * e[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_t0_zero_noise_source_is_noise_start_fm(seed: int) -> None:
    _, x1, e = draws(seed)
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(x1.shape[0], generator=g, dtype=torch.float64)
    x_t, u = linear_path(e, x1, t)  # default t0 = 0
    torch.testing.assert_close(x_t, (1 - t[:, None]) * e + t[:, None] * x1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(u, x1 - e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t0", [0.0, 0.3, 0.9, 0.99])
def test_sample_times_lie_in_t0_to_one(t0: float) -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_times(20000, t0, generator=g)
    assert t.shape == (20000,)
    assert float(t.min()) >= t0 - 1e-7 and float(t.max()) < 1.0
    # Uniform on [t0, 1): mean (1 + t0) / 2, variance (1 - t0)^2 / 12.
    assert float(t.mean()) == pytest.approx((1 + t0) / 2, abs=0.01 * (1 - t0) + 1e-6)
    assert float(t.var()) == pytest.approx((1 - t0) ** 2 / 12, rel=0.05)


def test_sample_times_per_example_t0_and_generator() -> None:
    t0 = torch.tensor([0.0, 0.5, 0.9, 0.99]).repeat(2500)
    t = sample_times(t0.shape[0], t0, generator=torch.Generator().manual_seed(1))
    assert bool((t >= t0).all()) and bool((t < 1).all())
    again = sample_times(t0.shape[0], t0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(t, again, rtol=0, atol=0)


def test_sample_times_stays_below_one_near_one() -> None:
    t = sample_times(10000, 1 - 1e-7, generator=torch.Generator().manual_seed(0))
    assert bool((t < 1.0).all())


@pytest.mark.parametrize("start", ["nois", "Draft", "", "sdedit"])
def test_unknown_start_names_allowed_values(start: str) -> None:
    d, _, e = draws(0, n=2)
    with pytest.raises(ValueError, match="allowed: draft, noised") as info:
        warm_start_state(d, e, 0.5, start)
    assert repr(start)[1:-1] in str(info.value)
    assert STARTS == ("draft", "noised")
