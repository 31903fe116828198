"""The Method interface (two stages, draft then refine), the batch it returns, and what the
continuous and discrete methods share: the t0 shim of a t0-conditioned net and the chunked
refine that counts evaluations by wrapping the net."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from lightning_modules.core.device import device_of


@dataclass
class SampleBatch:
    """Samples [n, *shape], the drafts they started from (or None), NFE per trajectory and the
    counted cost. `counters`: the method's own named statistics, each a mean per sample (e.g.
    FLUID's tokens_per_pass, CoFRe's block_passes); `measure` puts them into cost["counters"]
    and the record. They describe what ran; the ledger still counts calls and FLOPs."""

    samples: torch.Tensor
    drafts: torch.Tensor | None
    nfe: float
    cost: dict = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)


class Method:
    """Two stages, so their costs can be measured apart: `draft` then `refine`."""

    name = "method"
    needs: tuple[str, ...] = ()
    drafter: nn.Module | None = None

    def draft(self, n: int, seed: int) -> torch.Tensor | None:
        """The drafter's samples (per-sample seeds), or None for a method without one."""
        return None if self.drafter is None else self.drafter.sample(n, seed=seed)  # on the drafter's device

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        """Samples and NFE per trajectory (counted by wrapping the net). A method with counters
        returns them as a third item, {name: mean per sample}: (samples, nfe, counters)."""
        raise NotImplementedError

    def nominal_block_passes(self) -> float | None:
        """Block passes per sample that its settings are priced at before caching (a block
        budget: steps x blocks per call), where it has one; None (the default) where not.
        `measure` records it as cost["nominal_block_passes"] beside the passes it counted."""
        return None

    @property
    def device(self) -> torch.device:
        """Where its models live: every tensor the method makes is made there."""
        return device_of(*self.networks().values(), self.drafter)

    def networks(self) -> dict[str, nn.Module]:
        """The networks the cost ledger watches, by name: the trained models it was built from
        (by role) except the drafter, whose cost is measured as one component; for a method
        built by hand, its nn.Module attributes."""
        models = getattr(self, "models", None)
        if models is None:
            models = {k: v for k, v in vars(self).items() if isinstance(v, nn.Module)}
        return {k: v for k, v in models.items() if k != "drafter" and v is not self.drafter}

    @torch.inference_mode()
    def generate(self, n: int, seed: int) -> SampleBatch:
        drafts = self.draft(n, seed)
        samples, nfe, *counters = self.refine(drafts, n, seed)
        return SampleBatch(samples=samples, drafts=drafts, nfe=nfe, counters=dict(counters[0]) if counters else {})

    @classmethod
    def from_knobs(cls, models: dict[str, nn.Module], knobs: dict) -> Method:
        """Built from the trained models it needs (keyword arguments named by role) and its
        knobs (registry factory)."""
        method = cls(**{need: models[need] for need in cls.needs}, **knobs)
        method.models = {need: models[need] for need in cls.needs}
        return method


class NetMethod(Method):
    """A method that calls one trained net from t0 to 1 on `time_grid(t0, steps)`."""

    def __init__(self, net: nn.Module, *, t0: float, steps: int, chunk: int) -> None:
        self.net, self.t0, self.steps, self.chunk = net, float(t0), int(steps), chunk

    def call_net(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """net(x, t), with t0 passed where the net is t0-conditioned (one net serves a t0 range)."""
        if getattr(self.net, "t0_conditioned", False):
            return self.net(x, t, torch.full_like(t, self.t0))
        return self.net(x, t)

    def chunked(self, run: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
        """`run(*chunks)` over aligned chunks of `tensors` along dim 0, concatenated."""
        parts = zip(*(x.split(self.chunk) for x in tensors), strict=True)
        return torch.cat([run(*chunk) for chunk in parts])
