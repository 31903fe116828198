"""The autoregressive baseline of the text substrate: the `ar` model (substrate.ar), a causal
transformer of the masked baseline's size and budget, the `autoregressive` method, which
samples it token by token with a KV cache at a temperature, and `speculative`, the same
samples in fewer passes (lightning_modules/autoregressive/speculative.py)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.autoregressive import speculative  # noqa: F401  (registers `speculative`)
from lightning_modules.autoregressive.module import ARModule, bits_per_char
from lightning_modules.autoregressive.sampler import sample_cached
from lightning_modules.core import seeding
from lightning_modules.core.method import Method
from lightning_modules.core.registry import (
    Knob,
    register_method,
    register_model,
    transformer_effort,
)
from lightning_modules.core.roles import (
    check_transformer,
    section,
    substrate_spec,
    transformer_knobs,
)
from lightning_modules.core.training import fit
from lightning_modules.core.validation import held_out
from lightning_modules.data.toy import RandomBatches
from lightning_modules.nets.causal import CausalLM


def _spec(cfg: DictConfig) -> dict:
    return {"data": section(cfg, "data"), "ar": substrate_spec(cfg, "ar")}


def _build(cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001
    a = cfg.substrate.ar
    return CausalLM(dm.vocab_size, dm.seq_len, width=a.width, depth=a.depth, heads=a.heads,
                    dropout=float(a.dropout))


def _train(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    a = cfg.substrate.ar
    module = ARModule(model, lr=a.lr, max_steps=a.steps)
    info = fit(module, RandomBatches(dm.train, batch_size=a.batch_size, seed=a.seed), max_steps=a.steps, seed=a.seed,
               val_batches=held_out(dm.val, batch_size=a.batch_size), early_stop=int(a.early_stop))
    model.eval()
    return {**info, **_measure(model, cfg, dm)}


def _measure(model: nn.Module, cfg: DictConfig, dm) -> dict:  # noqa: ANN001, ARG001
    return {"val_bits_per_char": bits_per_char(model, dm.val),  # exact
            "n_params": sum(p.numel() for p in model.parameters())}


register_model("ar", spec=_spec, build=_build, train=_train, seed=lambda cfg: int(cfg.substrate.ar.seed),
               effort=lambda cfg: transformer_effort(cfg.substrate.ar), measure=_measure,
               knobs=transformer_knobs(steps=20000), config="substrate.ar", check=check_transformer("substrate.ar"),
               ship=True)


@register_method("autoregressive", needs=("ar",), role="baseline", t0="zero", kinds=("tokens",), family="autoregressive",
                 knobs=(Knob("temperature", float, 1.0, low=0.0,
                             help="divides the logits: below 1 trades entropy for likelihood; 0: greedy"),))
class Autoregressive(Method):
    """Token by token from BOS with a KV cache: L calls of growing attention per window."""

    name = "autoregressive"
    needs = ("ar",)

    def __init__(self, ar: CausalLM, *, temperature: float = 1.0, chunk: int = 1024) -> None:
        self.lm, self.temperature, self.chunk = ar, float(temperature), chunk

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        u = seeding.rand(n, self.lm.seq_len, seed=seed, stream="ar/token", device=self.device)
        out = torch.cat([sample_cached(self.lm, chunk, self.temperature) for chunk in u.split(self.chunk)])
        return out, float(self.lm.seq_len)
