"""A complete text family from outside the package (issue 29's acceptance test): a `light`
masked denoiser with typed knobs of its own (substrate.light), initialised from the substrate
MDLM's weights (so its cache key holds the MDLM's), fine-tuned, cached and shippable; and a
method `light_heavy` that runs the light network for the first `light_steps` ancestral steps
and the MDLM for the rest, reporting the share of its calls made by the light network."""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.method import Method
from lightning_modules.core.registry import MODELS, Knob, register_method, register_model
from lightning_modules.core.roles import section
from lightning_modules.core.training import fit
from lightning_modules.data.toy import RandomBatches
from lightning_modules.discrete.mixture import _categorical
from lightning_modules.mdlm.module import MDLMModule, elbo_bits_per_char
from lightning_modules.nets.transformer import TransformerDenoiser
from sweeps.cache import ArtifactCache

KNOBS = (Knob("depth", int, 1, low=1), Knob("steps", int, 10, low=0), Knob("batch_size", int, 16, low=2),
         Knob("lr", float, 1e-3, low=0.0), Knob("seed", int, 1, low=0))


def _parent_key(cfg) -> str:  # noqa: ANN001
    return ArtifactCache.key("mdlm", MODELS.get("mdlm").spec(cfg))


def _spec(cfg) -> dict:  # noqa: ANN001
    return {"data": section(cfg, "data"), "light": section(cfg, "substrate")["light"], "parent": _parent_key(cfg)}


def _build(cfg, dm) -> nn.Module:  # noqa: ANN001
    m = cfg.substrate.mdlm
    return TransformerDenoiser(dm.vocab_size, dm.seq_len, width=m.width, depth=cfg.substrate.light.depth,
                               heads=m.heads, time_input=False)


def _measure(model, cfg, dm) -> dict:  # noqa: ANN001, ARG001
    return {"val_bits_per_char": elbo_bits_per_char(model, dm.val, mask_id=dm.mask_id),
            "n_params": sum(p.numel() for p in model.parameters())}


def _train(model, cfg, dm, get) -> dict:  # noqa: ANN001
    own, parent = model.state_dict(), get("mdlm").state_dict()
    model.load_state_dict({k: v for k, v in parent.items() if k in own and v.shape == own[k].shape}, strict=False)
    light = cfg.substrate.light
    module = MDLMModule(model, mask_id=dm.mask_id, lr=light.lr, ema_decay=0.0, max_steps=light.steps)
    info = fit(module, RandomBatches(dm.train, batch_size=light.batch_size, seed=light.seed),
               max_steps=light.steps, seed=light.seed)
    model.load_state_dict(module.sampling_net(use_ema=False).state_dict())
    model.eval()
    return {**info, **_measure(model, cfg, dm), "parent": _parent_key(cfg)}


register_model("light", spec=_spec, build=_build, train=_train, seed=lambda cfg: int(cfg.substrate.light.seed),
               after=("mdlm",), measure=_measure, knobs=KNOBS, config="substrate.light", ship=True)


@register_method("light_heavy", needs=("light", "mdlm"), role="method", t0="zero", kinds=("tokens",),
                 family="light then heavy (test plugin)",
                 knobs=(Knob("steps", int, 8, low=1), Knob("light_steps", int, 4, low=0)))
class LightHeavy(Method):
    """MDLM's ancestral sampler from all [MASK], uncached: the light net for the first
    `light_steps` steps, the MDLM for the rest."""

    name = "light_heavy"
    needs = ("light", "mdlm")

    def __init__(self, light: nn.Module, mdlm: nn.Module, *, steps: int, light_steps: int) -> None:
        self.light, self.mdlm, self.steps, self.light_steps = light, mdlm, int(steps), min(int(light_steps), int(steps))

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float, dict]:
        length, mask, device = self.mdlm.seq_len, self.mdlm.mask_id, self.device
        jump_u = seeding.rand(n, self.steps, length, seed=seed, stream="light_heavy/jump", device=device)
        token_u = seeding.rand(n, self.steps, length, seed=seed, stream="light_heavy/token", device=device)
        x = torch.full((n, length), mask, dtype=torch.long, device=device)
        for i in range(self.steps):
            net = self.light if i < self.light_steps else self.mdlm
            logits = net(x)[..., :mask]  # never draw [MASK]
            token = _categorical(logits, token_u[:, i])
            jump = (x == mask) & (jump_u[:, i] < 1.0 / (self.steps - i))
            x = torch.where(jump, token, x)
        return x, float(self.steps - self.light_steps), {"light_share": self.light_steps / self.steps}
