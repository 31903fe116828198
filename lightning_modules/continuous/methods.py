"""Continuous methods: trained models plus knobs (t0, steps, solver) -> samples with a counted NFE.

Each registers itself with what it needs, its knobs, its role and its t0 semantics, so a
sweep trains (or loads from its cache) exactly those models and validates exactly those knobs.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.continuous.paths import warm_start_state
from lightning_modules.continuous.solvers import SOLVERS, CountingVelocity, integrate, time_grid
from lightning_modules.core import seeding
from lightning_modules.core.method import Method, NetMethod
from lightning_modules.core.registry import CONTINUOUS, KINDS, Knob, register_method

T0 = Knob("t0", float, 0.8, low=0.0, high=1.0, high_open=True, required=True, help="start time of the refiner")
STEPS = Knob("steps", int, 4, low=1, required=True, help="intervals of linspace(t0, 1, steps + 1)")
SOLVER = Knob("solver", str, "euler", choices=SOLVERS, help="dopri5 is adaptive (steps ignored)")
RTOL = Knob("rtol", float, 1e-5, low=0.0, column=False, help="dopri5 relative tolerance")
ATOL = Knob("atol", float, 1e-5, low=0.0, column=False, help="dopri5 absolute tolerance")
SOLVER_KNOBS = (STEPS, SOLVER, RTOL, ATOL)


class _Integrating(NetMethod):
    """Shared by the methods that integrate a velocity net from t0 to 1."""

    def __init__(self, net: nn.Module, *, t0: float, steps: int, solver: str = "euler",
                 rtol: float = 1e-5, atol: float = 1e-5, chunk: int = 8192) -> None:
        super().__init__(net, t0=t0, steps=steps, chunk=chunk)
        self.solver, self.rtol, self.atol = solver, rtol, atol
        self.grid = time_grid(self.t0, self.steps)

    def start_state(self, drafts: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        noise = seeding.randn(n, *self.net.sample_shape, seed=seed, stream="noise", device=self.device)
        x = self.start_state(drafts, noise)
        counter = CountingVelocity(self.call_net)
        grid = self.grid.to(device=x.device, dtype=x.dtype)
        out = self.chunked(lambda xc: integrate(counter, xc, grid, self.solver, self.rtol, self.atol), x)
        return out, counter.nfe(n)


@register_method("noise_start", needs=("noise_model",), role="baseline", t0="zero", kinds=CONTINUOUS, family="noise start",
                 knobs=SOLVER_KNOBS)
class NoiseStart(_Integrating):
    """Baseline: integrate the noise-start model from t = 0 (x = e) to 1."""

    name = "noise_start"
    needs = ("noise_model",)

    def __init__(self, noise_model: nn.Module, *, steps: int, solver: str = "euler", **kw) -> None:
        super().__init__(noise_model, t0=0.0, steps=steps, solver=solver, **kw)

    def start_state(self, drafts, noise):  # noqa: ANN001, ANN201
        return noise


@register_method("warm_start", needs=("drafter", "refiner"), role="method", t0="knob", kinds=CONTINUOUS, family="warm start",
                 knobs=(T0, *SOLVER_KNOBS))
class WarmStart(_Integrating):
    """WS-FM: a drafter's draft sets the state at t0; a refiner integrates from t0 to 1."""

    name = "warm_start"
    needs = ("drafter", "refiner")

    def __init__(self, refiner: nn.Module, drafter: nn.Module, *, t0: float, steps: int,
                 start: str = "noised", solver: str = "euler", **kw) -> None:
        super().__init__(refiner, t0=t0, steps=steps, solver=solver, **kw)
        self.drafter, self.start = drafter, start

    def start_state(self, drafts, noise):  # noqa: ANN001, ANN201
        return warm_start_state(drafts, noise.to(drafts), self.t0, self.start)


@register_method("sdedit", needs=("drafter", "noise_model"), role="method", t0="knob", kinds=CONTINUOUS, family="SDEdit",
                 knobs=(T0, *SOLVER_KNOBS))
class SDEdit(WarmStart):
    """Training-free warm start: noise the draft to t0, integrate the noise-start model."""

    name = "sdedit"
    needs = ("drafter", "noise_model")

    def __init__(self, noise_model: nn.Module, drafter: nn.Module, *, t0: float, steps: int,
                 solver: str = "euler", **kw) -> None:
        kw.pop("start", None)  # always noised: the noise-start model knows no other state
        super().__init__(noise_model, drafter, t0=t0, steps=steps, start="noised", solver=solver, **kw)



@register_method("drafter_only", needs=("drafter",), role="drafter", t0="one", kinds=KINDS, family="drafter alone")
class DrafterOnly(Method):
    """The drafter alone: t0 = 1, zero refiner evaluations."""

    name = "drafter_only"
    needs = ("drafter",)

    def __init__(self, drafter: nn.Module, **_: object) -> None:
        self.drafter = drafter

    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        return drafts, 0.0
