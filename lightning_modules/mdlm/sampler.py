"""MDLM's cached ancestral sampler for a masked denoiser without time input.

From all [MASK] on the grid s = i / steps, each still-masked position is unmasked at step i
with probability (s' - s) / (1 - s) (1 at the last step) to a draw from p(x1 | x_t), and is
then kept (carry-over). A denoiser that does not see t gives the same logits for the same
x_t, so a row whose tokens did not change since its last call reuses those logits: the step
costs that row no network call. The draws use the same per-sample uniforms as the uncached
sampler, so both give the same tokens; only the number of calls differs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightning_modules.discrete.mixture import _categorical

TimeFreeDenoiser = Callable[[torch.Tensor], torch.Tensor]  # x_t [b, L] -> logits [b, L, V]


@torch.inference_mode()
def masked_sample(denoiser: TimeFreeDenoiser, n: int, length: int, *, mask_id: int, steps: int,
                  jump_u: torch.Tensor, token_u: torch.Tensor, cached: bool = True,
                  device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [n, L], network calls per row [n]). jump_u, token_u: uniforms [n, steps, L]."""
    x = torch.full((n, length), mask_id, dtype=torch.long, device=device)
    calls = torch.zeros(n, dtype=torch.long, device=device)
    logits = None
    stale = torch.ones(n, dtype=torch.bool, device=device)  # rows whose x changed since their last call
    for i in range(steps):
        s, s_next = i / steps, (i + 1) / steps
        p_jump = 1.0 if i == steps - 1 else (s_next - s) / (1 - s)
        if not cached or logits is None:
            logits, called = denoiser(x), torch.ones_like(stale)
        else:
            called = stale
            if bool(called.any()):
                logits = logits.clone()
                logits[called] = denoiser(x[called])
        calls += called.long()
        proposal = _categorical(logits, token_u[:, i].to(logits.device))
        unmask = (x == mask_id) & (jump_u[:, i].to(x.device) < p_jump)
        x = torch.where(unmask, proposal, x)
        stale = unmask.any(dim=1)
    return x, calls
