"""ODE samplers on explicit time grids, with evaluations counted by wrapping the velocity.

Grids are always `time_grid(t0, steps)` = linspace(t0, 1, steps + 1), never derived from a
step size (float rounding would add a zero-length step and a silent extra evaluation).
Conventions: Euler 1 evaluation per step, midpoint and Heun 2 per step (Heun's last step
included, since the path has no singularity at t = 1), dopri5 adaptive with a step size per
sample (counted as it runs: 6 per attempted step, plus 1 to start).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SOLVERS = ("euler", "midpoint", "heun", "dopri5")
FIXED_GRID_SOLVERS = ("euler", "midpoint", "heun")


class CountingVelocity:
    """Wraps a velocity field; counts evaluations per sample trajectory.

    Every call over a batch of b states adds b to `evals`, so `nfe(n)` = evals / n is the
    number of evaluations each of the n trajectories received, however they were chunked.
    """

    def __init__(self, velocity: Velocity) -> None:
        self.velocity = velocity
        self.evals = 0
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.evals += x.shape[0]
        self.calls += 1
        return self.velocity(x, t)

    def nfe(self, n_trajectories: int) -> float:
        return self.evals / n_trajectories


def time_grid(t0: float, steps: int) -> torch.Tensor:
    """Explicit grid of `steps` intervals from t0 to 1 (float64 so the ends are exact)."""
    if steps < 1:
        raise ValueError(f"steps={steps}: must be >= 1")
    if not 0.0 <= t0 < 1.0:
        raise ValueError(f"t0={t0}: must lie in [0, 1)")
    return torch.linspace(t0, 1.0, steps + 1, dtype=torch.float64, device="cpu")  # a host-side schedule


def integrate(
    velocity: Velocity, x: torch.Tensor, grid: torch.Tensor, solver: str = "euler",
    rtol: float = 1e-5, atol: float = 1e-5,
) -> torch.Tensor:
    """Integrate dx/dt = velocity(x, t) over `grid`; returns the state at grid[-1]."""
    if solver == "dopri5":
        return _dopri5(velocity, x, float(grid[0]), float(grid[-1]), rtol, atol)
    step = _STEPS.get(solver)
    if step is None:
        raise ValueError(f"unknown solver '{solver}'; allowed: {', '.join(SOLVERS)}")
    ts = grid.tolist()
    for t, t_next in zip(ts[:-1], ts[1:], strict=True):
        x = step(velocity, x, t, t_next)
    return x


def _t(value: float, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), value, dtype=x.dtype, device=x.device)


def _euler(f: Velocity, x: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    return x + (t_next - t) * f(x, _t(t, x))


def _midpoint(f: Velocity, x: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    h = t_next - t
    x_mid = x + 0.5 * h * f(x, _t(t, x))
    return x + h * f(x_mid, _t(t + 0.5 * h, x))


def _heun(f: Velocity, x: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    h = t_next - t
    v = f(x, _t(t, x))
    x_pred = x + h * v
    return x + 0.5 * h * (v + f(x_pred, _t(t_next, x)))


_STEPS = {"euler": _euler, "midpoint": _midpoint, "heun": _heun}


def _dopri5(f: Velocity, x: torch.Tensor, t0: float, t1: float, rtol: float, atol: float) -> torch.Tensor:
    from lightning_modules.continuous.dopri5 import dopri5

    return dopri5(f, x, t0, t1, rtol=rtol, atol=atol)


def expected_nfe(solver: str, steps: int) -> int:
    """Evaluations per trajectory a fixed-grid solver should make (used by tests only)."""
    return {"euler": 1, "midpoint": 2, "heun": 2}[solver] * steps
