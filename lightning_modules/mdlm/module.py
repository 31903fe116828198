"""MDLM (Sahoo et al., 2024) on characters: absorbing [MASK], a time-free denoiser, and the
continuous-time ELBO of the linear schedule.

A window x is masked position-wise with probability t ~ U(0, 1) (alpha_t = 1 - t of data
kept). With the SUBS parameterisation (no [MASK] prediction, unmasked tokens carried over) the
negative ELBO per character is E_t [ (1/t) * sum over masked positions of -log p(x | z_t) ] / L:
the training loss (t drawn stratified over the batch, as MDLM's low-discrepancy sampler does,
to tame the 1/t weight) and, on held-out windows with a fixed seed, the validation bits per
character beside gen PPL.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.core.refiner_module import RefinerModule

T_MIN = 1e-3  # t is kept away from 0, where the weight 1/t is unbounded and nothing is masked


def nelbo(net: nn.Module, x: torch.Tensor, *, mask_id: int, t: torch.Tensor | None = None,
          u: torch.Tensor | None = None) -> torch.Tensor:
    """Negative ELBO per character (nats), averaged over the batch: one t per row (stratified
    over the batch when not given), masks where u < t."""
    n, length = x.shape
    if t is None:
        t = (torch.arange(n, device=x.device, dtype=torch.float64) + torch.rand(1, device=x.device).double()) / n
    t = t.double().clamp_min(T_MIN)
    if u is None:
        u = torch.rand(n, length, device=x.device)
    masked = u.double() < t.unsqueeze(1)
    z = torch.where(masked, torch.full_like(x, mask_id), x)
    ce = F.cross_entropy(net(z).flatten(0, 1).float(), x.flatten().long(), reduction="none").view(n, length)
    return ((ce.double() * masked).sum(1) / t).mean().float() / length


@torch.no_grad()
def elbo_bits_per_char(net: nn.Module, windows: torch.Tensor, *, mask_id: int, draws: int = 4, seed: int = 0,
                       batch_size: int = 256) -> float:
    """The negative ELBO of held-out windows in bits per character (an upper bound on the
    model's NLL): `draws` stratified (t, mask) draws per window from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for chunk in windows.long().split(batch_size):
        for _ in range(draws):
            t = (torch.arange(len(chunk), dtype=torch.float64) + torch.rand(1, generator=g, dtype=torch.float64))
            t = t[torch.randperm(len(chunk), generator=g)] / len(chunk)
            u = torch.rand(chunk.shape, generator=g)
            device = next(net.parameters()).device
            total += float(nelbo(net, chunk.to(device), mask_id=mask_id, t=t.to(device), u=u.to(device))) * len(chunk)
            count += len(chunk)
    return total / max(count, 1) / math.log(2)


class MDLMModule(RefinerModule):
    """The masked baseline trained on its ELBO; batches (x,). Sampling uses the EMA weights."""

    optimizer_class = torch.optim.AdamW
    optimizer_kwargs = {"weight_decay": 0.0}
    loss_name = "MDLM"

    def __init__(self, net: nn.Module, *, mask_id: int, lr: float = 1e-3, ema_decay: float = 0.999,
                 max_steps: int = 20_000) -> None:
        if getattr(net, "time_input", True):
            raise ValueError("MDLM's denoiser takes no time input (build it with time_input=False)")
        super().__init__(net, mode="noise", start="noised", t0=0.0, t0_range=None, lr=lr, ema_decay=ema_decay,
                         max_steps=max_steps)
        self.mask_id = mask_id

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return nelbo(self.net, batch[0], mask_id=self.mask_id)
