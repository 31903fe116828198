"""MDLM's cached ancestral sampler for masked denoisers without time input.

From all [MASK] on the grid s = i / steps, each still-masked position is unmasked at step i
with probability (s' - s) / (1 - s) (1 at the last step) to a draw from p(x1 | x_t), and is
then kept (carry-over). A denoiser that does not see t gives the same logits for the same
x_t, so a row whose tokens did not change since its last call reuses those logits: the step
costs that row no network call. The draws use the same per-sample uniforms as the uncached
sampler, so both give the same tokens; only the number of calls differs.

Several denoisers may share the steps (model scheduling: `plan[i]` names the one of step i).
The cache is then per denoiser: a row is called again by a denoiser when it changed since
*that* denoiser's last call on it, so a step that switches denoiser makes a call and one
denoiser never reuses another's logits. With one denoiser it is MDLM's sampler, call for call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lightning_modules.core import seeding
from lightning_modules.discrete.mixture import _categorical

TimeFreeDenoiser = Callable[[torch.Tensor], torch.Tensor]  # x_t [b, L] -> logits [b, L, V]
# Windows sampled at once by the masked samplers: at n = 1,024 on 2 threads, 128 at a time is
# 1.7x faster than 1,024 (benchmarks/text_chunks.py: 26.9 s vs 45.6 s at 64 steps); same tokens.
CHUNK = 128


MDLM_STREAMS = ("mdlm/jump", "mdlm/token")


def in_chunks(run: Callable[..., tuple[torch.Tensor, ...]], n: int, steps: int, length: int, *, seed: int,
              device: torch.device | str, chunk: int, streams: Sequence[str] = MDLM_STREAMS) -> tuple[torch.Tensor, ...]:
    """Per-sample uniforms [n, steps, length] of each stream (MDLM's jump and token streams
    first, so every masked sampler pairs on seeds), handed to `run(jump_u, token_u, ...)`
    `chunk` rows at a time; each of its outputs concatenated over the chunks."""
    draws = [seeding.rand(n, steps, length, seed=seed, stream=s, device=device) for s in streams]
    outs = [run(*parts) for parts in zip(*(d.split(chunk) for d in draws), strict=True)]
    return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))


@torch.inference_mode()
def masked_sample(denoiser: TimeFreeDenoiser | Sequence[TimeFreeDenoiser], n: int, length: int, *, mask_id: int,
                  steps: int, jump_u: torch.Tensor, token_u: torch.Tensor, cached: bool = True,
                  device: torch.device | None = None, plan: Sequence[int] | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [n, L], network calls per row [n, denoisers]; [n] for a single denoiser).
    jump_u, token_u: uniforms [n, steps, L]; plan: the denoiser index of each step (default 0)."""
    single = callable(denoiser)
    nets = [denoiser] if single else list(denoiser)
    plan = [0] * steps if plan is None else list(plan)
    if len(plan) != steps or not all(0 <= k < len(nets) for k in plan):
        raise ValueError(f"plan: {steps} indices in [0, {len(nets)}), got {plan}")
    x = torch.full((n, length), mask_id, dtype=torch.long, device=device)
    calls = torch.zeros(n, len(nets), dtype=torch.long, device=device)
    logits: list[torch.Tensor | None] = [None] * len(nets)
    stale = torch.ones(n, len(nets), dtype=torch.bool, device=device)  # changed since each net's last call
    for i in range(steps):
        k = plan[i]
        s, s_next = i / steps, (i + 1) / steps
        p_jump = 1.0 if i == steps - 1 else (s_next - s) / (1 - s)
        if not cached or logits[k] is None:
            logits[k], called = nets[k](x), torch.ones_like(stale[:, k])
        else:
            called = stale[:, k]
            if bool(called.any()):
                logits[k] = logits[k].clone()
                logits[k][called] = nets[k](x[called])
        calls[:, k] += called.long()
        stale[:, k] &= ~called
        proposal = _categorical(logits[k], token_u[:, i].to(logits[k].device))
        unmask = (x == mask_id) & (jump_u[:, i].to(x.device) < p_jump)
        x = torch.where(unmask, proposal, x)
        stale |= unmask.any(dim=1, keepdim=True)
    return x, (calls[:, 0] if single else calls)
