"""Dormand–Prince 5(4) with a step size per sample, so sample i's trajectory (and its count of
evaluations) depends only on its own state: the same whatever the batch size or chunking (the
per-sample seed contract). A shared step, as in torchdiffeq, lets the hardest sample of a
batch set everyone's steps, so sample i would change with n.

Each iteration evaluates only the samples still short of t1; the velocity is called on that
subset, so a counting wrapper counts each sample's own evaluations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# The Dormand–Prince tableau (Hairer, Nørsett & Wanner): nodes, stage weights, 5th-order
# weights (FSAL: the 7th stage is the next step's 1st) and 5th-minus-4th error weights.
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


def _rms(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).pow(2).mean(dim=1).sqrt()


def _per_sample(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return h.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def dopri5(f: Velocity, x: torch.Tensor, t0: float, t1: float, *, rtol: float, atol: float,
           max_iterations: int = 100_000) -> torch.Tensor:
    """The state at t1 of dx/dt = f(x, t) from x at t0, with per-sample adaptive steps."""
    n = x.shape[0]
    t = torch.full((n,), float(t0), dtype=torch.float64, device=x.device)
    x = x.clone()
    k1 = f(x, t.to(x.dtype)).clone()
    # Initial step (Hairer's rule): 1% of |x| / |f| per sample, within the interval.
    d0, d1 = _rms(x / (atol + rtol * x.abs())), _rms(k1 / (atol + rtol * x.abs()))
    h = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1).double()
    h = h.clamp(max=t1 - t0)
    for _ in range(max_iterations):
        active = (t1 - t > 1e-12).nonzero().squeeze(1)
        if active.numel() == 0:
            return x
        xa, ta, k = x[active], t[active], [k1[active]]
        ha = torch.minimum(h[active], t1 - ta)  # the last step lands on t1 exactly
        hx = _per_sample(ha, xa)
        for stage in range(1, 7):
            state = xa + hx * sum(a * k[j] for j, a in enumerate(A[stage]) if a)
            k.append(f(state, (ta + C[stage] * ha).to(xa.dtype)))
        y = state  # stage 7 is evaluated at the 5th-order solution (FSAL)
        err = hx * sum(e * k[j] for j, e in enumerate(E) if e)
        ratio = _rms(err / (atol + rtol * torch.maximum(xa.abs(), y.abs()))).double()
        accept = ratio <= 1.0
        done = active[accept]
        x[done], k1[done] = y[accept], k[6][accept]
        t[done] = torch.where(ha[accept] >= t1 - ta[accept], torch.full_like(ha[accept], t1), ta[accept] + ha[accept])
        factor = (SAFETY * ratio.clamp_min(1e-10).pow(-0.2)).clamp(MIN_FACTOR, MAX_FACTOR)
        h[active] = ha * factor
    raise RuntimeError(f"dopri5 did not reach t1={t1} within {max_iterations} iterations")
