"""The scheduling family's registrations: the light MDLM (`mdlm_light`, settings in
substrate.mdlm_light; stored as an `mdlm`, so it is the substrate's MDLM at other settings and
shares its cache keys and shipped files) and the `scheduled` method."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.knobs import Knob
from lightning_modules.core.ledger import blocks_in
from lightning_modules.core.method import Method
from lightning_modules.core.registry import register_method, register_model, transformer_effort
from lightning_modules.core.roles import check_transformer, transformer_knobs
from lightning_modules.discrete.methods import STEPS
from lightning_modules.mdlm.registered import build_mdlm, mdlm_spec, measure_mdlm, train_mdlm
from lightning_modules.mdlm.sampler import CHUNK, in_chunks, masked_sample
from lightning_modules.scheduling import importance
from lightning_modules.scheduling.schedule import plan, segments

LIGHT = "mdlm_light"


def _light_knobs() -> tuple[Knob, ...]:
    """The substrate MDLM's knobs, depth 2 by default (the shipped depth-2 light model)."""
    return tuple(replace(k, default=2) if k.name == "depth" else k for k in transformer_knobs(steps=80000))


register_model(LIGHT, kind="mdlm", spec=lambda cfg: mdlm_spec(cfg, LIGHT),
               build=lambda cfg, dm: build_mdlm(cfg, dm, LIGHT),
               train=lambda model, cfg, dm, get: train_mdlm(model, cfg, dm, get, LIGHT),
               seed=lambda cfg: int(cfg.substrate[LIGHT].seed), effort=lambda cfg: transformer_effort(cfg.substrate[LIGHT]),
               measure=measure_mdlm, knobs=_light_knobs(), config=f"substrate.{LIGHT}",
               check=check_transformer(f"substrate.{LIGHT}"), ship=True)

SCHEDULE = Knob("schedule", str, "LHHL", parse=segments,
                help="which network runs where: letters per equal segment (LHHL) or fractions of the steps "
                     "(L:0.125,H:0.75,L:0.125); H = substrate.mdlm, L = substrate.mdlm_light")


@register_method("scheduled", needs=("mdlm", LIGHT), role="method", t0="zero", kinds=("tokens",),
                 family="model scheduling", diagnostics=importance.diagnostic,
                 knobs=(replace(STEPS, default=64, help="ancestral steps from all [MASK], shared by the two networks"),
                        SCHEDULE))
class ScheduledMDLM(Method):
    """MDLM's cached ancestral sampler with the step grid split between a heavy and a light
    denoiser by `schedule`. Same uniforms as `mdlm` (so all-H gives its tokens); the cache is
    per network, and the ledger counts each network's own calls."""

    name = "scheduled"
    needs = ("mdlm", LIGHT)

    def __init__(self, mdlm: nn.Module, mdlm_light: nn.Module, *, steps: int, schedule: str,
                 chunk: int = CHUNK) -> None:
        if mdlm_light is mdlm:
            raise ConfigError(f"substrate.{LIGHT}", "substrate.mdlm's settings",
                              "settings of another network than the heavy one (substrate.mdlm)")
        self.heavy, self.light, self.steps, self.chunk = mdlm, mdlm_light, int(steps), chunk
        self.schedule, self.plan = schedule, plan(schedule, int(steps))

    def networks(self) -> dict[str, nn.Module]:
        return {"heavy": self.heavy, "light": self.light}

    def nominal_block_passes(self) -> float:
        return float(sum(blocks_in(self.heavy if letter == "H" else self.light) for letter in self.plan))

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float, dict]:
        length, nets = self.heavy.seq_len, [self.heavy, self.light]
        order = [0 if letter == "H" else 1 for letter in self.plan]
        # MDLM's uniforms: the schedule changes which network proposes, not the draws
        tokens, calls = in_chunks(
            lambda ju, tu: masked_sample(nets, len(ju), length, mask_id=self.heavy.mask_id, steps=self.steps,
                                         jump_u=ju, token_u=tu, device=self.device, plan=order),
            n, self.steps, length, seed=seed, device=self.device, chunk=self.chunk)
        per_net = calls.double().mean(0)
        counters = {"heavy_calls": float(per_net[0]), "light_calls": float(per_net[1]),
                    "light_steps": float(self.plan.count("L"))}
        return tokens, float(per_net.sum()), counters
