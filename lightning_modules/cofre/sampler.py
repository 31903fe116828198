"""CoFRe's sampler: MDLM's cached ancestral sampler over a fixed-point denoiser, with an
iteration schedule and the reuse of each row's last fixed-point state (arXiv 2605.31215,
App. C.2, "three-state reuse", 3SR).

The draws are MDLM's (the same per-sample uniforms, `mdlm/sampler.py`), so the methods pair on
seeds. At a call, a row starts its iterations from h^0 = gamma * h*_last + (1 - gamma) * h_pre,
per position:
- gamma_visible (1) where the token is visible and unchanged since the row's last call;
- gamma_mask_min + (gamma_mask_max - gamma_mask_min) * v where it is still masked, v being the
  row's visible share now (the paper ramps it with v, not with the step index);
- gamma_changed where it was revealed since the row's last call.
`reuse="full"` takes gamma = 1 everywhere, `"none"` h^0 = h_pre (no state kept).

Cache: a row is called when its tokens changed since its last call (MDLM's rule), so a call
always has a changed token to react to. Without reuse and at a constant iteration count this
is exact (the denoiser is time-free); with reuse or a varying count, a row whose tokens did not
change keeps its logits and state instead of iterating again: the sampler is charged only for
the calls it makes.

Re-drawing (`remask` > 0, after ReMDM): after each step but the last, each token visible
before the step is masked again with probability remask x the step's unmasking probability
(its own uniform stream, `cofre/remask`), to be drawn anew. 3SR assumes monotone unmasking (a
visible token keeps its state): the method refuses 3sr with remask > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lightning_modules.discrete.mixture import _categorical

REUSES = ("none", "3sr", "full")
SCHEDULES = ("constant", "decreasing")


@dataclass(frozen=True)
class Reuse:
    mode: str = "none"
    visible: float = 1.0
    mask_min: float = 0.75
    mask_max: float = 0.90
    changed: float = 0.2

    def gamma(self, x: torch.Tensor, last: torch.Tensor, mask_id: int) -> torch.Tensor:
        """[rows, L, 1] share of the last state per position (x: tokens now, last: at the last call)."""
        if self.mode == "full":
            return torch.ones(*x.shape, 1, device=x.device)
        masked = x == mask_id
        v = (~masked).float().mean(1, keepdim=True)  # the row's visible share now
        g = torch.full(x.shape, float(self.changed), device=x.device)
        g = torch.where(masked & (last == mask_id), self.mask_min + (self.mask_max - self.mask_min) * v, g)
        g = torch.where(~masked & (x == last), torch.full_like(g, float(self.visible)), g)
        return g.unsqueeze(-1)


def iteration_plan(schedule: str, iters: int, steps: int) -> list[int]:
    """Iterations per step. constant: `iters` each. decreasing: linear from 1.5 x iters at the
    first step to 0.5 x iters at the last (more iterations while the input is mostly [MASK]),
    at least 1, rounded by largest remainders so that they sum to steps x iters when the
    minimum of 1 allows it."""
    if schedule == "constant" or steps == 1:
        return [int(iters)] * steps
    if schedule != "decreasing":
        raise ValueError(f"schedule={schedule!r}; allowed: {', '.join(SCHEDULES)}")
    target = [iters * (1.5 - i / (steps - 1)) for i in range(steps)]
    plan = [max(1, int(t)) for t in target]
    left = steps * iters - sum(plan)
    for i in sorted(range(steps), key=lambda i: target[i] - int(target[i]), reverse=True)[:max(0, left)]:
        plan[i] += 1
    return plan


@torch.inference_mode()
def fp_sample(net, n: int, length: int, *, mask_id: int, plan: Sequence[int], jump_u: torch.Tensor,  # noqa: ANN001
              token_u: torch.Tensor, reuse: Reuse = Reuse(), device: torch.device | None = None,
              remask: float = 0.0, remask_u: torch.Tensor | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens [n, L], calls per row [n], block passes per row [n]); `plan[i]`: iterations at step i;
    `remask_u`: uniforms [n, steps, L], needed when remask > 0."""
    if remask > 0 and (reuse.mode == "3sr" or remask_u is None):
        raise ValueError("remask > 0 needs its uniforms and refuses 3SR (which assumes monotone unmasking)")
    steps = len(plan)
    fixed, per_iter = net.blocks_per_call
    x = torch.full((n, length), mask_id, dtype=torch.long, device=device)
    calls = torch.zeros(n, dtype=torch.long, device=device)
    passes = torch.zeros(n, dtype=torch.long, device=device)
    stale = torch.ones(n, dtype=torch.bool, device=device)
    logits = state = last = None
    for i in range(steps):
        s, s_next = i / steps, (i + 1) / steps
        p_jump = 1.0 if i == steps - 1 else (s_next - s) / (1 - s)
        if bool(stale.any()):
            rows = stale.nonzero().squeeze(1)
            xs = x[rows]
            if state is None or reuse.mode == "none":
                out, _, h = net(xs, iters=plan[i], hidden=True)
            else:
                gamma = reuse.gamma(xs, last[rows], mask_id)
                out, _, h = net(xs, iters=plan[i], h_prev=state[rows], gamma=gamma, hidden=True)
            if logits is None:
                logits, state, last = out, h, xs.clone()
            else:
                logits, state, last = logits.clone(), state.clone(), last.clone()
                logits[rows], state[rows], last[rows] = out, h, xs
            calls[rows] += 1
            passes[rows] += fixed + per_iter * plan[i]
            stale[rows] = False
        proposal = _categorical(logits, token_u[:, i].to(logits.device))
        visible = x != mask_id
        unmask = ~visible & (jump_u[:, i].to(x.device) < p_jump)
        x = torch.where(unmask, proposal, x)
        if remask > 0 and i < steps - 1:
            redraw = visible & (remask_u[:, i].to(x.device) < remask * p_jump)
            x = torch.where(redraw, mask_id, x)
            unmask |= redraw
        stale |= unmask.any(dim=1)
    return x, calls, passes
