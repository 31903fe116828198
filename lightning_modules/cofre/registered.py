"""The CoFRe family's registrations (arXiv 2605.31215): the models `fp_mdlm` and
`fp_mdlm_cons` (lightning_modules/cofre/models.py) and the methods `fp_mdlm` and `cofre`, MDLM's
cached ancestral sampler over the fixed-point denoiser (lightning_modules/cofre/sampler.py)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from lightning_modules.cofre import models
from lightning_modules.cofre.sampler import REUSES, SCHEDULES, Reuse, fp_sample, iteration_plan
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.knobs import Knob
from lightning_modules.core.method import Method
from lightning_modules.core.registry import register_method, register_model
from lightning_modules.discrete.methods import STEPS
from lightning_modules.mdlm.sampler import CHUNK, MDLM_STREAMS, in_chunks


def _effort(section) -> float:  # noqa: ANN001
    """Training cost in 4 x 96 MDLM steps: pre + post blocks and about 4 iterations, with gradient."""
    return float(section.steps) * (float(section.width) / 96.0) ** 2 * (section.pre + section.post + 4) / 4.0


register_model(models.FP, spec=models.fp_spec, build=models.build_fp, train=models.train_fp, after=("mdlm",),
               seed=lambda cfg: int(cfg.substrate[models.FP].seed), effort=lambda cfg: _effort(cfg.substrate[models.FP]),
               measure=models.measure_fp, knobs=models.FP_KNOBS, config=f"substrate.{models.FP}",
               check=models.check_fp, ship=True)
register_model(models.CONS, spec=models.cons_spec, build=models.build_fp, train=models.train_cons,
               after=(models.FP,), seed=lambda cfg: int(cfg.substrate[models.CONS].seed),
               effort=lambda cfg: 0.1 * _effort(cfg.substrate[models.FP]), measure=models.measure_fp,
               knobs=models.CONS_KNOBS, config=f"substrate.{models.CONS}", ship=True)

ITERS = Knob("iters", int, 2, low=1, help="fixed-point iterations per call (the mean, with a decreasing schedule)")
SCHEDULE = Knob("schedule", str, "constant", choices=SCHEDULES,
                help="iterations over the steps: constant, or decreasing from 1.5x to 0.5x iters")
REUSE = Knob("reuse", str, "none", choices=REUSES,
             help="start state of a call: none (h_pre), 3sr (three-state reuse of the row's last state), full")
REMASK = Knob("remask", float, 0.0, low=0.0, high=1.0, help="re-drawing (ReMDM-style): after a step, a token "
              "visible before it is masked again with this share of the step's unmasking probability; not with 3sr")
GAMMAS = (Knob("gamma_visible", float, 1.0, low=0.0, high=1.0, column=False),
          Knob("gamma_mask_min", float, 0.75, low=0.0, high=1.0, column=False),
          Knob("gamma_mask_max", float, 0.90, low=0.0, high=1.0, column=False),
          Knob("gamma_changed", float, 0.2, low=0.0, high=1.0, column=False))


def _knobs(schedule: str, reuse: str) -> tuple[Knob, ...]:
    return (replace(STEPS, default=64, help="ancestral steps from all [MASK]; a step in which a sample's tokens "
                    "did not change costs it no call"), ITERS, replace(SCHEDULE, default=schedule),
            replace(REUSE, default=reuse), REMASK, *GAMMAS)


def check_knobs(values: dict) -> None:
    """What single knobs cannot say: the ramp's ends in order; 3SR only with monotone unmasking."""
    if values["gamma_mask_min"] > values["gamma_mask_max"]:
        raise ConfigError("method.gamma_mask_min", values["gamma_mask_min"],
                          f"<= method.gamma_mask_max={values['gamma_mask_max']}")
    if values["remask"] > 0 and values["reuse"] == "3sr":
        raise ConfigError("method.reuse", values["reuse"], "none or full when method.remask > 0 (3SR needs monotone "
                          "unmasking: a re-drawn token has no state to reuse)")


class FixedPointSampling(Method):
    """MDLM's cached ancestral sampler (same uniforms as `mdlm`) over a fixed-point denoiser:
    an iteration schedule and optional state reuse (lightning_modules/cofre/sampler.py)."""

    def __init__(self, net: nn.Module, *, steps: int, iters: int, schedule: str, reuse: str, gamma_visible: float,
                 gamma_mask_min: float, gamma_mask_max: float, gamma_changed: float, remask: float = 0.0,
                 chunk: int = CHUNK) -> None:
        check_knobs({"gamma_mask_min": gamma_mask_min, "gamma_mask_max": gamma_mask_max, "reuse": reuse,
                     "remask": remask})
        self.remask = float(remask)
        self.net, self.steps, self.chunk = net, int(steps), chunk
        self.plan = iteration_plan(schedule, int(iters), self.steps)
        self.reuse = Reuse(reuse, gamma_visible, gamma_mask_min, gamma_mask_max, gamma_changed)

    def nominal_block_passes(self) -> float:
        fixed, per_iter = self.net.blocks_per_call
        return float(sum(fixed + per_iter * k for k in self.plan))

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float, dict]:
        length, net = self.net.seq_len, self.net
        streams = (*MDLM_STREAMS, "cofre/remask") if self.remask > 0 else MDLM_STREAMS
        tokens, calls, passes = in_chunks(
            lambda ju, tu, ru=None: fp_sample(net, len(ju), length, mask_id=net.mask_id, plan=self.plan, jump_u=ju,
                                              token_u=tu, reuse=self.reuse, device=self.device, remask=self.remask,
                                              remask_u=ru),
            n, self.steps, length, seed=seed, device=self.device, chunk=self.chunk, streams=streams)
        per_row = float(calls.double().mean())
        return tokens, per_row, {"calls": per_row, "block_passes": float(passes.double().mean())}


@register_method("fp_mdlm", needs=(models.FP,), role="method", t0="zero", kinds=("tokens",), family="CoFRe",
                 knobs=_knobs("constant", "none"), check=check_knobs)
class FPMDLMMethod(FixedPointSampling):
    """The FP-MDLM (substrate.fp_mdlm: from scratch or converted) under the fixed-point sampler."""

    name = "fp_mdlm"
    needs = (models.FP,)

    def __init__(self, fp_mdlm: nn.Module, **knobs) -> None:  # noqa: ANN003
        super().__init__(fp_mdlm, **knobs)


@register_method("cofre", needs=(models.CONS,), role="method", t0="zero", kinds=("tokens",), family="CoFRe",
                 knobs=_knobs("decreasing", "3sr"), check=check_knobs)
class CoFReMethod(FixedPointSampling):
    """CoFRe: the FP-MDLM after consistency post-training (substrate.fp_mdlm_cons), sampled
    with three-state reuse and a decreasing iteration schedule by default."""

    name = "cofre"
    needs = (models.CONS,)

    def __init__(self, fp_mdlm_cons: nn.Module, **knobs) -> None:  # noqa: ANN003
        super().__init__(fp_mdlm_cons, **knobs)
