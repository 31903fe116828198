"""The masked-diffusion baseline of the text substrate: the `mdlm` model (substrate.mdlm) and
the `mdlm` method, MDLM's cached ancestral sampler from all [MASK]."""

from __future__ import annotations

from dataclasses import replace

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.core.ledger import blocks_in
from lightning_modules.core.method import Method
from lightning_modules.core.registry import register_method, register_model, transformer_effort
from lightning_modules.core.roles import (
    check_transformer,
    section,
    substrate_spec,
    transformer_knobs,
)
from lightning_modules.core.training import fit
from lightning_modules.core.validation import held_out
from lightning_modules.data.toy import RandomBatches
from lightning_modules.discrete.methods import STEPS
from lightning_modules.mdlm.module import MDLMModule, elbo_bits_per_char
from lightning_modules.mdlm.sampler import CHUNK, in_chunks, masked_sample


def mdlm_spec(cfg: DictConfig, name: str = "mdlm") -> dict:
    """An MDLM's cache identity: the data and its substrate.<name> settings."""
    return {"data": section(cfg, "data"), "mdlm": substrate_spec(cfg, name)}


def build_mdlm(cfg: DictConfig, dm, name: str = "mdlm") -> nn.Module:  # noqa: ANN001
    from lightning_modules.nets.transformer import TransformerDenoiser

    m = cfg.substrate[name]
    return TransformerDenoiser(dm.vocab_size, dm.seq_len, width=m.width, depth=m.depth, heads=m.heads,
                               time_input=False, dropout=float(m.dropout))


def train_mdlm(model: nn.Module, cfg: DictConfig, dm, get, name: str = "mdlm") -> dict:  # noqa: ANN001, ARG001
    m = cfg.substrate[name]
    module = MDLMModule(model, mask_id=dm.mask_id, lr=m.lr, ema_decay=m.ema_decay, max_steps=m.steps)
    info = fit(module, RandomBatches(dm.train, batch_size=m.batch_size, seed=m.seed), max_steps=m.steps, seed=m.seed,
               val_batches=held_out(dm.val, batch_size=m.batch_size), early_stop=int(m.early_stop))
    model.load_state_dict(module.sampling_net(use_ema=True).state_dict())
    model.eval()
    return {**info, **measure_mdlm(model, cfg, dm)}


def measure_mdlm(model: nn.Module, cfg: DictConfig, dm) -> dict:  # noqa: ANN001, ARG001
    return {"val_bits_per_char": elbo_bits_per_char(model, dm.val, mask_id=dm.mask_id),  # an ELBO: an upper bound
            "n_params": sum(p.numel() for p in model.parameters())}


register_model("mdlm", spec=mdlm_spec, build=build_mdlm, train=train_mdlm, seed=lambda cfg: int(cfg.substrate.mdlm.seed),
               effort=lambda cfg: transformer_effort(cfg.substrate.mdlm), measure=measure_mdlm,
               knobs=transformer_knobs(steps=80000), config="substrate.mdlm", check=check_transformer("substrate.mdlm"),
               ship=True)


@register_method("mdlm", needs=("mdlm",), role="baseline", t0="zero", kinds=("tokens",), family="masked diffusion",
                 knobs=(replace(STEPS, default=64, help="ancestral steps from all [MASK]; a step in which a "
                                "sample's tokens did not change costs it no call"),))
class MDLMMethod(Method):
    """MDLM from all [MASK]: each masked position is unmasked once and kept (carry-over); the
    denoiser sees no time, so a sample whose tokens did not change reuses its logits."""

    name = "mdlm"
    needs = ("mdlm",)

    def __init__(self, mdlm: nn.Module, *, steps: int, chunk: int = CHUNK) -> None:
        self.net, self.steps, self.chunk = mdlm, int(steps), chunk

    def nominal_block_passes(self) -> float:
        return float(self.steps * blocks_in(self.net))

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        length, net = self.net.seq_len, self.net
        tokens, calls = in_chunks(
            lambda ju, tu: masked_sample(net, len(ju), length, mask_id=net.mask_id, steps=self.steps, jump_u=ju,
                                         token_u=tu, device=self.device),
            n, self.steps, length, seed=seed, device=self.device, chunk=self.chunk)
        return tokens, float(calls.double().mean())
