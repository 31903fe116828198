"""ODE solvers on analytic fields, and NFE counted against the written conventions."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_modules.continuous.solvers import (
    FIXED_GRID_SOLVERS,
    SOLVERS,
    CountingVelocity,
    expected_nfe,
    integrate,
    time_grid,
)

T0S = (0.0, 0.1, 0.3, 0.7, 0.9, 0.95, 1 - 1e-7, 0.8999999999)
STEPS = (1, 2, 3, 7, 10, 64)
F64 = torch.float64


def start(n: int = 5, dim: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --- analytic fields -------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("t0", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("steps", [1, 4])
def test_constant_field_is_exact(solver: str, t0: float, steps: int) -> None:
    c = torch.tensor([1.5, -2.0], dtype=F64)
    x0 = start()
    x1 = integrate(lambda x, t: c.expand_as(x), x0, time_grid(t0, steps), solver)
    torch.testing.assert_close(x1, x0 + (1 - t0) * c, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("t0", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("steps", [1, 2, 5, 10])
def test_linear_in_t_field(t0: float, steps: int) -> None:
    """v = 2t: exact x(1) = x(t0) + 1 - t0^2; Euler's error is -(1 - t0) h, h = (1 - t0) / steps."""
    x0 = start()

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (2 * t)[:, None].expand_as(x)

    grid = time_grid(t0, steps)
    exact = x0 + 1 - t0**2
    h = (1 - t0) / steps
    euler = integrate(field, x0, grid, "euler")
    torch.testing.assert_close(euler, exact - (1 - t0) * h, rtol=1e-12, atol=1e-12)
    assert float((euler - exact).abs().max()) == pytest.approx((1 - t0) ** 2 / steps, rel=1e-9)
    for solver in ("midpoint", "heun"):
        torch.testing.assert_close(
            integrate(field, x0, grid, solver), exact, rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("t0", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_linear_ode_one_step_factors(t0: float, steps: int) -> None:
    """dx/dt = x: Euler multiplies by (1 + h) per step, midpoint and Heun by 1 + h + h^2 / 2."""
    x0 = start()
    grid = time_grid(t0, steps)
    h = (1 - t0) / steps

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x

    torch.testing.assert_close(
        integrate(field, x0, grid, "euler"), x0 * (1 + h) ** steps, rtol=1e-13, atol=0
    )
    for solver in ("midpoint", "heun"):
        torch.testing.assert_close(
            integrate(field, x0, grid, solver),
            x0 * (1 + h + h * h / 2) ** steps,
            rtol=1e-13,
            atol=0,
        )


@pytest.mark.parametrize("t0", [0.0, 0.3, 0.9])
def test_dopri5_linear_ode_close_to_exp(t0: float) -> None:
    x0 = torch.ones(3, 1, dtype=F64)
    counter = CountingVelocity(lambda x, t: x)
    x1 = integrate(counter, x0, time_grid(t0, 1), "dopri5")
    torch.testing.assert_close(x1, torch.full_like(x0, math.exp(1 - t0)), rtol=0, atol=1e-4)
    # Adaptive: counted as it runs, at least one full 6-stage step, every call over the batch.
    assert counter.nfe(3) >= 6
    assert counter.evals == 3 * counter.calls


def test_dopri5_time_argument_is_per_sample() -> None:
    """v = 2t through dopri5: x(1) = x(t0) + 1 - t0^2, and t arrives as a [batch] tensor."""
    shapes = []

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return (2 * t)[:, None].expand_as(x)

    x0 = start(n=4)
    out = integrate(field, x0, time_grid(0.2, 1), "dopri5")
    torch.testing.assert_close(out, x0 + 1 - 0.04, rtol=0, atol=1e-6)
    assert set(shapes) == {(4,)}


# --- grids and NFE ---------------------------------------------------------------------


@pytest.mark.parametrize("t0", T0S)
@pytest.mark.parametrize("steps", STEPS)
def test_time_grid_shape_and_ends(t0: float, steps: int) -> None:
    grid = time_grid(t0, steps)
    assert grid.dtype == F64
    assert grid.shape == (steps + 1,)
    assert float(grid[0]) == t0 and float(grid[-1]) == 1.0
    assert bool((grid[1:] > grid[:-1]).all())


@pytest.mark.parametrize("solver", FIXED_GRID_SOLVERS)
@pytest.mark.parametrize("t0", T0S)
@pytest.mark.parametrize("steps", STEPS)
def test_counted_nfe_equals_convention(solver: str, t0: float, steps: int) -> None:
    n = 3
    counter = CountingVelocity(lambda x, t: -x)
    integrate(counter, torch.ones(n, 2), time_grid(t0, steps).float(), solver)
    assert counter.nfe(n) == expected_nfe(solver, steps)
    assert counter.calls == expected_nfe(solver, steps)


def test_expected_nfe_conventions() -> None:
    assert [expected_nfe(s, 5) for s in FIXED_GRID_SOLVERS] == [5, 10, 10]
    with pytest.raises(KeyError):
        expected_nfe("dopri5", 5)


def _step_size_grid(t0: float, steps: int) -> torch.Tensor:
    """The grid we must not build: accumulate h = (1 - t0) / steps until reaching 1."""
    h = (1 - t0) / steps
    ts, t = [t0], t0
    while t < 1.0:
        t = min(t + h, 1.0)
        ts.append(t)
    return torch.tensor(ts, dtype=F64)


def test_step_size_grids_would_miscount() -> None:
    """The NFE test bites: step-size grids add silent evaluations for t0/steps values above."""
    wrong = []
    for t0 in T0S[:-2]:  # near t0 -> 1 the accumulating loop would barely move; skip it
        for steps in STEPS:
            counter = CountingVelocity(lambda x, t: x)
            integrate(counter, torch.ones(2, 1, dtype=F64), _step_size_grid(t0, steps), "euler")
            if counter.nfe(2) != expected_nfe("euler", steps):
                wrong.append((t0, steps, counter.nfe(2)))
    assert (0.0, 10, 11.0) in wrong  # 0.1 added ten times stops just short of 1
    assert len(wrong) >= 5
    # The same happens with torchdiffeq's own step_size option in float32, e.g. t0 = 0.9.
    from torchdiffeq import odeint

    calls = []

    def rhs(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        calls.append(float(t))
        return torch.ones_like(x)

    times = torch.tensor([0.9, 1.0])
    odeint(rhs, torch.zeros(1), times, method="euler", options={"step_size": (1 - 0.9) / 10})
    assert len(calls) == 11 != expected_nfe("euler", 10)


@pytest.mark.parametrize("solver", FIXED_GRID_SOLVERS)
@pytest.mark.parametrize("steps", [1, 7])
def test_chunked_integration_counts_per_trajectory(solver: str, steps: int) -> None:
    x = start(n=10)
    grid = time_grid(0.3, steps)
    counter = CountingVelocity(lambda x, t: torch.sin(x) + t[:, None])
    chunks = x.split(4)
    assert len(chunks) == 3
    out = torch.cat([integrate(counter, c, grid, solver) for c in chunks])
    assert counter.nfe(10) == expected_nfe(solver, steps)
    assert counter.calls == 3 * expected_nfe(solver, steps)
    # Chunking changes nothing in the result either.
    whole = integrate(lambda x, t: torch.sin(x) + t[:, None], x, grid, solver)
    torch.testing.assert_close(out, whole, rtol=0, atol=1e-14)


def test_counting_velocity_passes_through() -> None:
    counter = CountingVelocity(lambda x, t: x * t[:, None])
    x = torch.ones(4, 2)
    out = counter(x, torch.full((4,), 0.5))
    torch.testing.assert_close(out, torch.full((4, 2), 0.5))
    counter(x[:1], torch.zeros(1))
    assert (counter.evals, counter.calls) == (5, 2)
    assert counter.nfe(5) == 1.0


@pytest.mark.parametrize("steps", [0, -1])
def test_time_grid_rejects_bad_steps(steps: int) -> None:
    with pytest.raises(ValueError, match=f"steps={steps}"):
        time_grid(0.0, steps)


@pytest.mark.parametrize("t0", [1.0, 1.5, -0.1, float("nan")])
def test_time_grid_rejects_bad_t0(t0: float) -> None:
    with pytest.raises(ValueError, match=r"t0=.*\[0, 1\)"):
        time_grid(t0, 4)


@pytest.mark.parametrize("solver", ["rk4", "Euler", ""])
def test_unknown_solver_lists_allowed(solver: str) -> None:
    with pytest.raises(ValueError, match="allowed: euler, midpoint, heun, dopri5"):
        integrate(lambda x, t: x, torch.ones(2, 2), time_grid(0.0, 2), solver)
