"""The FLUID family's registrations (arXiv 2605.27387): the models `fluid` (stage I, the
substrate's autoregressive model adapted to predict several tokens per pass) and `fluid_head`
(stage II, elastic horizons), and the method `fluid`, their decoder
(lightning_modules/fluid/decoder.py)."""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.knobs import Knob
from lightning_modules.core.method import Method
from lightning_modules.core.registry import register_method, register_model
from lightning_modules.fluid import models
from lightning_modules.fluid.decoder import decode, stride_counters


def _effort(cfg) -> float:  # noqa: ANN001
    """Training cost in 4 x 96 MDLM steps: a window grows by about share x (k_max + 1) / 2 masks
    per real slot, and attention with it."""
    s = cfg.substrate[models.FLUID]
    return float(s.steps) * (1.0 + s.share * (s.k_max + 1) / 2.0)


register_model(models.FLUID, spec=models.fluid_spec, build=models.build_fluid, train=models.train_fluid,
               after=("ar",), seed=lambda cfg: int(cfg.substrate[models.FLUID].seed), effort=_effort,
               measure=models.measure_fluid, knobs=models.KNOBS, config=f"substrate.{models.FLUID}", ship=True)
register_model(models.HEAD, spec=models.head_spec, build=models.build_head, train=models.train_head,
               after=(models.FLUID,), seed=lambda cfg: int(cfg.substrate[models.HEAD].seed),
               effort=lambda cfg: 0.05 * _effort(cfg), measure=models.measure_head, knobs=models.HEAD_KNOBS,
               config=f"substrate.{models.HEAD}", ship=True)

HORIZONS = ("fixed", "elastic")
KNOBS = (
    Knob("k", int, 4, low=0, high=16, help="masks per pass, proposing the tokens after the next (0: one token per "
         "pass, the adapted model decoding autoregressively)"),
    Knob("gamma", float, 0.9, low=0.0, high=1.0, help="a mask's token is proposed while the model's probability of "
         "it exceeds gamma (the leading run; 1: none)"),
    Knob("verify", bool, True, help="check the proposals against the model's own autoregressive draws (lossless)"),
    Knob("horizon", str, "fixed", choices=HORIZONS, help="fixed: up to k proposals; elastic: the stage-II head cuts "
         "them at its predicted horizon"),
    Knob("temperature", float, 1.0, low=0.0, help="divides the logits; 0: greedy"),
)


def check_knobs(values: dict) -> None:
    if values["horizon"] == "elastic" and values["k"] < 1:
        raise ConfigError("method.k", values["k"], ">= 1 with method.horizon=elastic (the head cuts the k masks' "
                          "proposals)")


@register_method("fluid", needs=(models.FLUID, models.HEAD), role="method", t0="zero", kinds=("tokens",),
                 family="fluid", knobs=KNOBS, check=check_knobs)
class FluidDecoding(Method):
    """The adapted model proposing the tokens after the next one with k masks per pass, each
    pass checking the previous pass's proposals (lightning_modules/fluid/decoder.py)."""

    name = "fluid"
    needs = (models.FLUID, models.HEAD)

    def __init__(self, fluid: nn.Module, fluid_head: nn.Module, *, k: int = 4, gamma: float = 0.9,
                 verify: bool = True, horizon: str = "fixed", temperature: float = 1.0, chunk: int = 1024) -> None:
        check_knobs({"k": k, "horizon": horizon})
        if k > fluid_head.k_max:
            raise ConfigError("method.k", k, f"<= substrate.fluid.k_max={fluid_head.k_max} (offsets the adapted model "
                              "was trained to predict)")
        self.net, self.head = fluid, fluid_head
        self.k, self.gamma, self.verify, self.temperature, self.chunk = int(k), float(gamma), bool(verify), \
            float(temperature), chunk
        self.elastic = horizon == "elastic"

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float, dict]:
        u = seeding.rand(n, self.net.seq_len, seed=seed, stream="ar/token", device=self.device)
        runs = [decode(self.net, chunk, k=self.k, gamma=self.gamma, verify=self.verify, temperature=self.temperature,
                       head=self.head if self.elastic else None) for chunk in u.split(self.chunk)]
        counters = stride_counters(runs)
        return torch.cat([r.tokens for r in runs]), counters["passes"], counters
