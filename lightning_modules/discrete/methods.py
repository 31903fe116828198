"""Text methods (discrete flow matching): the masked noise-start baseline and WS-DFM.

Both sample with `discrete_sample` on `time_grid(t0, steps)` with per-sample uniforms, so
sample i depends only on (seed, i); NFE is counted by wrapping the denoiser.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.method import NetMethod
from lightning_modules.core.registry import Knob, register_method
from lightning_modules.discrete.mixture import (
    DISCRETE_SAMPLERS,
    CountingDenoiser,
    discrete_sample,
    source_state,
)

T0 = Knob("t0", float, 0.8, low=0.0, high=1.0, high_open=True, required=True, help="start time of the refiner")
STEPS = Knob("steps", int, 4, low=1, required=True, help="denoiser calls on linspace(t0, 1, steps + 1)")
SAMPLER = Knob("solver", str, "euler", choices=DISCRETE_SAMPLERS,
               help="euler: a token may be redrawn at every step; ancestral: each token drawn once")
GATE = Knob("gate", float, 1.0, low=0.01, high=1.0,
            help="a token is redrawn only while the refiner gives it a probability below gate (1: off)")


class _Discrete(NetMethod):
    def __init__(self, net: nn.Module, *, t0: float, steps: int, solver: str = "euler", gate: float = 1.0,
                 chunk: int = 1024) -> None:
        super().__init__(net, t0=t0, steps=steps, chunk=chunk)
        self.solver, self.gate = solver, gate
        self.mask_id, self.seq_len = net.mask_id, net.seq_len

    def logits(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.call_net(x, t)

    def start_state(self, drafts: torch.Tensor | None, n: int, seed: int) -> torch.Tensor:
        raise NotImplementedError

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        x = self.start_state(drafts, n, seed)
        jump_u = seeding.rand(n, self.steps, self.seq_len, seed=seed, stream="dfm/jump", device=x.device)
        token_u = seeding.rand(n, self.steps, self.seq_len, seed=seed, stream="dfm/token", device=x.device)
        counter = CountingDenoiser(self.logits)
        out = self.chunked(lambda xc, ju, tu: discrete_sample(counter, xc, self.t0, self.steps, jump_u=ju,
                                                              token_u=tu, sampler=self.solver, gate=self.gate),
                           x, jump_u, token_u)
        return out, counter.nfe(n)


@register_method("masked_dfm", needs=("noise_model",), role="baseline", t0="zero", kinds=("tokens",), family="noise start",
                 knobs=(replace(STEPS, default=16), Knob("solver", str, "ancestral", choices=DISCRETE_SAMPLERS,
                                    help="identical here: an unmasked token is carried over")))
class MaskedDFM(_Discrete):
    """Noise-start baseline (MDLM-like): all [MASK] at t = 0. An unmasked token is data, so
    p(x1 | x_t) there is a point mass on it (carry-over): Euler and ancestral coincide."""

    name = "masked_dfm"
    needs = ("noise_model",)

    def __init__(self, noise_model: nn.Module, *, steps: int, solver: str = "ancestral", **kw) -> None:
        super().__init__(noise_model, t0=0.0, steps=steps, solver=solver, **kw)

    def logits(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = super().logits(x, t)
        known = x != self.mask_id
        point_mass = torch.full_like(logits, float("-inf")).scatter(-1, x.clamp_max(logits.shape[-1] - 1)
                                                                    .unsqueeze(-1), 0.0)
        return torch.where(known.unsqueeze(-1), point_mass, logits)

    def start_state(self, drafts, n, seed):  # noqa: ANN001, ANN201
        return torch.full((n, self.seq_len), self.mask_id, dtype=torch.long, device=self.device)


@register_method("ws_dfm", needs=("drafter", "refiner"), role="method", t0="knob", kinds=("tokens",), family="warm start",
                 knobs=(T0, STEPS, SAMPLER, GATE))
class WarmStartDFM(_Discrete):
    """WS-DFM: the draft (with `noised`, each token masked with probability 1 - t0) is the
    state at t0; the refiner rewrites it on [t0, 1]."""

    name = "ws_dfm"
    needs = ("drafter", "refiner")

    def __init__(self, refiner: nn.Module, drafter: nn.Module, *, t0: float, steps: int, start: str = "noised",
                 solver: str = "euler", gate: float = 1.0, **kw) -> None:
        super().__init__(refiner, t0=t0, steps=steps, solver=solver, gate=gate, **kw)
        self.drafter, self.start = drafter, start

    def start_state(self, drafts, n, seed):  # noqa: ANN001, ANN201
        u = seeding.rand(n, self.seq_len, seed=seed, stream="dfm/start", device=self.device)
        return source_state(drafts, mask_id=self.mask_id, t0=self.t0, start=self.start, u=u)
