"""Discrete flow matching on mixture paths (text), framework-free and tested against closed forms.

Tokens x1 in V^L; a source state at t0 (all [MASK] for the masked baseline, t0 = 0; the draft
for WS-DFM, each draft token masked with probability 1 - t0 under the `noised` start). On
[t0, 1] with s = (t - t0) / (1 - t0), each position independently holds its data token with
probability s, else its source token. The denoiser predicts p(x1 | x_t) at every position.

Samplers on `time_grid(t0, steps)`: from s to s', each position jumps, with probability
(s' - s) / (1 - s), to a token drawn from the denoiser's p(x1 | x_t); the last step has
probability 1, so every position ends on a denoiser draw. Draft tokens can therefore be
rewritten, not only masks filled.
- `euler`: a position may jump again at a later step (the discrete Euler step of the CTMC).
- `ancestral`: a position jumps exactly once and is then kept, i.e. it is drawn at the time
  it leaves its source state. From an all-[MASK] source this is MDLM's ancestral sampler
  with carry-over (an unmasked token is data, so p(x1 | x_t) is a point mass on it there).
One denoiser call per step: NFE = steps, exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightning_modules.continuous.solvers import CountingVelocity, time_grid

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t [n, L], t [n]) -> logits [n, L, V]
DISCRETE_STARTS = ("draft", "noised")
DISCRETE_SAMPLERS = ("euler", "ancestral")


def path_progress(t: torch.Tensor | float, t0: torch.Tensor | float) -> torch.Tensor:
    """s = (t - t0) / (1 - t0) in [0, 1]."""
    t, t0 = torch.as_tensor(t, dtype=torch.float64), torch.as_tensor(t0, dtype=torch.float64)
    return (t - t0) / (1 - t0)


def source_state(x1_or_draft: torch.Tensor, *, mask_id: int, t0: torch.Tensor | float, start: str | None,
                 u: torch.Tensor) -> torch.Tensor:
    """The state at t0. start=None: the masked baseline (all [MASK]). `draft`: the draft itself.
    `noised`: each draft token masked where u < 1 - t0 (u: uniforms of the same shape; t0 a
    scalar or one per row)."""
    if start is None:
        return torch.full_like(x1_or_draft, mask_id)
    if start == "draft":
        return x1_or_draft.clone()
    if start == "noised":
        t0 = torch.as_tensor(t0, dtype=torch.float64, device=u.device)
        t0 = t0.view(-1, *([1] * (u.ndim - 1))) if t0.ndim else t0
        return torch.where(u.double() < 1 - t0, torch.full_like(x1_or_draft, mask_id), x1_or_draft)
    raise ValueError(f"unknown start '{start}'; allowed: {', '.join(DISCRETE_STARTS)}")


def mixture_state(source: torch.Tensor, x1: torch.Tensor, s: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """x_t: the data token where u < s (s per row [n] or scalar), else the source token."""
    s = torch.as_tensor(s, dtype=torch.float64)
    s = s.view(-1, *([1] * (x1.ndim - 1))) if s.ndim else s
    return torch.where(u.double() < s, x1, source)


# Counting a denoiser is counting any (x, t) -> tensor call per sample trajectory: one wrapper.
CountingDenoiser = CountingVelocity


def _categorical(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws from softmax(logits) [n, L, V] with uniforms u [n, L]."""
    cdf = torch.softmax(logits.double(), dim=-1).cumsum(-1)
    target = u.double().unsqueeze(-1) * cdf[..., -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_max(logits.shape[-1] - 1)


@torch.inference_mode()
def discrete_sample(denoiser: Denoiser, x_t0: torch.Tensor, t0: float, steps: int, *, jump_u: torch.Tensor,
                    token_u: torch.Tensor, sampler: str = "euler", gate: float = 1.0) -> torch.Tensor:
    """Integrate the mixture path from x_t0 at t0 to 1 in `steps` steps of `sampler`.

    jump_u, token_u: uniforms [n, steps, L] (per-sample streams), for the jump decisions and
    the token draws of each step. gate < 1: a position may jump only while the denoiser gives
    its current token a probability below `gate` (a [MASK], outside the vocabulary, always
    may), so tokens the denoiser trusts are never redrawn; gate = 1 leaves the sampler as is.
    """
    if sampler not in DISCRETE_SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler}'; allowed: {', '.join(DISCRETE_SAMPLERS)}")
    grid = time_grid(t0, steps)
    x = x_t0.clone()
    jumped = torch.zeros_like(x, dtype=torch.bool)
    for i in range(steps):
        t, t_next = float(grid[i]), float(grid[i + 1])
        s, s_next = (t - t0) / (1 - t0), (t_next - t0) / (1 - t0)  # path_progress, on host floats
        p_jump = 1.0 if i == steps - 1 else (s_next - s) / (1 - s)
        logits = denoiser(x, torch.full((x.shape[0],), t, dtype=torch.float32, device=x.device))
        proposal = _categorical(logits, token_u[:, i])
        jump = jump_u[:, i] < p_jump
        if gate < 1.0:
            vocab = logits.shape[-1]
            p_cur = torch.softmax(logits.double(), dim=-1).gather(-1, x.clamp_max(vocab - 1).unsqueeze(-1)).squeeze(-1)
            jump &= (p_cur < gate) | (x >= vocab)
        if sampler == "ancestral":
            jump &= ~jumped
            jumped |= jump
        x = torch.where(jump, proposal, x)
    return x


def discrete_euler(denoiser: Denoiser, x_t0: torch.Tensor, t0: float, steps: int, *, jump_u: torch.Tensor,
                   token_u: torch.Tensor) -> torch.Tensor:
    """`discrete_sample` with the Euler sampler."""
    return discrete_sample(denoiser, x_t0, t0, steps, jump_u=jump_u, token_u=token_u, sampler="euler")
