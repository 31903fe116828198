"""Methods: trained models plus knobs (t0, steps, solver) -> samples with a counted NFE.

Registered by name; `needs` says which trained models each one uses, so a sweep trains
(or loads from its cache) exactly those.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.method import Method
from lightning_modules.discrete.methods import MaskedDFM, WarmStartDFM
from lightning_modules.continuous.paths import warm_start_state
from lightning_modules.continuous.solvers import CountingVelocity, integrate, time_grid


class _Integrating(Method):
    """Shared by the methods that integrate a velocity net from t0 to 1."""

    def __init__(self, net: nn.Module, *, t0: float, steps: int, solver: str = "euler",
                 rtol: float = 1e-5, atol: float = 1e-5, chunk: int = 8192) -> None:
        self.net, self.t0, self.steps, self.solver = net, float(t0), int(steps), solver
        self.rtol, self.atol, self.chunk = rtol, atol, chunk
        self.grid = time_grid(self.t0, self.steps)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if getattr(self.net, "t0_conditioned", False):
            return self.net(x, t, torch.full_like(t, self.t0))
        return self.net(x, t)

    def start_state(self, drafts: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        noise = seeding.randn(n, *self.net.sample_shape, seed=seed, stream="noise")
        x = self.start_state(drafts, noise)
        counter = CountingVelocity(self.velocity)
        grid = self.grid.to(dtype=x.dtype)
        out = [integrate(counter, xc, grid, self.solver, self.rtol, self.atol) for xc in x.split(self.chunk)]
        return torch.cat(out), counter.nfe(n)


class NoiseStart(_Integrating):
    """Baseline: integrate the noise-start model from t = 0 (x = e) to 1."""

    name = "noise_start"
    needs = ("noise_model",)

    def __init__(self, noise_model: nn.Module, *, steps: int, solver: str = "euler", **kw) -> None:
        super().__init__(noise_model, t0=0.0, steps=steps, solver=solver, **kw)

    def start_state(self, drafts, noise):  # noqa: ANN001, ANN201
        return noise


class WarmStart(_Integrating):
    """WS-FM: a drafter's draft sets the state at t0; a refiner integrates from t0 to 1."""

    name = "warm_start"
    needs = ("drafter", "refiner")

    def __init__(self, refiner: nn.Module, drafter: nn.Module, *, t0: float, steps: int,
                 start: str = "noised", solver: str = "euler", **kw) -> None:
        super().__init__(refiner, t0=t0, steps=steps, solver=solver, **kw)
        self.drafter, self.start = drafter, start

    def draft(self, n: int, seed: int) -> torch.Tensor:
        return self.drafter.sample(n, seed=seed)

    def start_state(self, drafts, noise):  # noqa: ANN001, ANN201
        return warm_start_state(drafts, noise.to(drafts), self.t0, self.start)


class SDEdit(WarmStart):
    """Training-free warm start: noise the draft to t0, integrate the noise-start model."""

    name = "sdedit"
    needs = ("drafter", "noise_model")

    def __init__(self, noise_model: nn.Module, drafter: nn.Module, *, t0: float, steps: int,
                 solver: str = "euler", **kw) -> None:
        super().__init__(noise_model, drafter, t0=t0, steps=steps, start="noised", solver=solver, **kw)


class DrafterOnly(Method):
    """The drafter alone: t0 = 1, zero refiner evaluations."""

    name = "drafter_only"
    needs = ("drafter",)

    def __init__(self, drafter: nn.Module) -> None:
        self.drafter = drafter

    def draft(self, n: int, seed: int) -> torch.Tensor:
        return self.drafter.sample(n, seed=seed)

    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        return drafts, 0.0


METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (NoiseStart, WarmStart, SDEdit, DrafterOnly, MaskedDFM, WarmStartDFM)
}
# Methods that start from a drafter's draft at t0 (a trained refiner is valid only there).
WARM_METHODS = ("warm_start", "ws_dfm")


def build_method(name: str, models: dict[str, nn.Module], knobs: dict) -> Method:
    """Instantiate method `name` from the trained `models` it needs and its knobs."""
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; allowed: {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    missing = [m for m in cls.needs if m not in models]
    if missing:
        raise ValueError(f"method '{name}' needs trained models {missing}")
    required = {"noise_start": ("steps",), "warm_start": ("t0", "steps"), "sdedit": ("t0", "steps"),
                "masked_dfm": ("steps",), "ws_dfm": ("t0", "steps")}
    absent = [k for k in required.get(name, ()) if k not in knobs]
    if absent:
        raise ValueError(f"method '{name}' needs knobs {absent}")
    solver_kw = {k: knobs[k] for k in ("solver", "rtol", "atol") if k in knobs}
    if name == "noise_start":
        return NoiseStart(models["noise_model"], steps=knobs["steps"], **solver_kw)
    if name == "warm_start":
        return WarmStart(models["refiner"], models["drafter"], t0=knobs["t0"], steps=knobs["steps"],
                         start=knobs.get("start", "noised"), **solver_kw)
    if name == "masked_dfm":
        return MaskedDFM(models["noise_model"], steps=knobs["steps"], solver=knobs.get("solver", "ancestral"))
    if name == "ws_dfm":
        return WarmStartDFM(models["refiner"], models["drafter"], t0=knobs["t0"], steps=knobs["steps"],
                            start=knobs.get("start", "noised"), solver=knobs.get("solver", "euler"))
    if name == "sdedit":
        return SDEdit(models["noise_model"], models["drafter"], t0=knobs["t0"], steps=knobs["steps"], **solver_kw)
    return DrafterOnly(models["drafter"])
