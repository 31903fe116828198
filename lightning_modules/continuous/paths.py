"""Probability paths of flow matching, framework-free (tested against closed forms).

All continuous paths here are linear from a source state x_t0 at time t0 to data x1 at 1:
    x_t = ((1 - t) x_t0 + (t - t0) x1) / (1 - t0),   u = (x1 - x_t0) / (1 - t0).
Noise-start FM is the case t0 = 0, x_t0 = e (x_t = (1 - t) e + t x1, u = x1 - e).
"""

from __future__ import annotations

import torch

STARTS = ("draft", "noised")


def warm_start_state(draft: torch.Tensor, noise: torch.Tensor, t0: torch.Tensor | float, start: str) -> torch.Tensor:
    """The state at t0 built from a draft: `draft` -> d, `noised` -> t0 d + (1 - t0) e."""
    if start == "draft":
        return draft
    if start == "noised":
        t0 = _column(t0, draft)
        return t0 * draft + (1 - t0) * noise
    raise ValueError(f"unknown start '{start}'; allowed: {', '.join(STARTS)}")


def linear_path(
    x_t0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, target velocity u) of the linear path from x_t0 at t0 to x1 at time 1."""
    t = _column(t, x1)
    t0 = _column(t0, x1)
    span = 1 - t0
    x_t = ((1 - t) * x_t0 + (t - t0) * x1) / span
    u = (x1 - x_t0) / span
    return x_t, u


def sample_times(n: int, t0: torch.Tensor | float, generator: torch.Generator | None = None) -> torch.Tensor:
    """t ~ U[t0, 1) per example (t0 scalar or [n])."""
    # float64, then clamp: in float32, t0 near 1 would round t up to exactly 1.
    u = torch.rand(n, generator=generator).double()
    t0 = torch.as_tensor(t0, dtype=torch.float64)
    t = t0 + (1 - t0) * u
    return t.clamp_max(torch.nextafter(torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)))


def _column(v: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return v.reshape(-1, *([1] * (like.ndim - 1))) if v.ndim > 0 else v
