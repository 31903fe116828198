"""The discrete flow-matching LightningModule (text): masked baseline and WS-DFM refiners.

The shared `RefinerModule` holds the net, its EMA copy, the training step and the optimiser;
this adds a cross-entropy loss on the mixture paths of `mixture.py`. Sampling lives in
`discrete/methods.py`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.continuous.pairing import hamming_ot
from lightning_modules.core.refiner_module import RefinerModule
from lightning_modules.discrete.mixture import mixture_state, source_state


def dfm_loss(net: nn.Module, x1: torch.Tensor, *, mask_id: int, draft: torch.Tensor | None = None,
             start: str = "noised", t0: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of p(x1 | x_t) on a mixture path.

    draft=None: the masked baseline (t0 = 0, all-[MASK] source); the loss is on masked
    positions only, since an unmasked token is data (the sampler carries it over).
    With drafts: WS-DFM, source built from the draft at t0 (one per row); the loss is on every
    position, because draft tokens must be rewritten as well as masks filled.
    """
    n, length = x1.shape
    s = torch.rand(n, dtype=torch.float64, device=x1.device)
    u = torch.rand(n, length, device=x1.device)
    if draft is None:
        x_t = mixture_state(torch.full_like(x1, mask_id), x1, s, u)
        logits = net(x_t, s.float())
        masked = x_t == mask_id
        ce = F.cross_entropy(logits.flatten(0, 1), x1.flatten(), reduction="none").view(n, length)
        return (ce * masked).sum() / masked.sum().clamp_min(1)
    source = source_state(draft, mask_id=mask_id, t0=t0, start=start, u=torch.rand(n, length, device=x1.device))
    x_t = mixture_state(source, x1, s, u)
    t = (t0.double() + s * (1 - t0.double())).float()
    logits = net(x_t, t, t0.float()) if getattr(net, "t0_conditioned", False) else net(x_t, t)
    return F.cross_entropy(logits.flatten(0, 1), x1.flatten())


def corrupt(x1: torch.Tensor, draft: torch.Tensor, rate: float, u: torch.Tensor) -> torch.Tensor:
    """x1 with the draft's token where u < rate: a mostly-right draft (pairing `corrupt`)."""
    return torch.where(u < rate, draft, x1)


class DiscreteFlowMatching(RefinerModule):
    """mode="noise": masked baseline, batches (x1,). mode="warm": WS-DFM, batches (draft, x1),
    at a fixed t0 or, for a t0-conditioned denoiser, t0 ~ U[t0_range]."""

    optimizer_class = torch.optim.AdamW
    optimizer_kwargs = {"weight_decay": 0.0}
    loss_name = "denoiser"

    def __init__(self, net: nn.Module, *, mask_id: int, mode: str = "noise", start: str = "noised",
                 t0: float = 0.8, t0_range: tuple[float, float] | None = None, lr: float = 1e-3,
                 ema_decay: float = 0.999, max_steps: int = 3000, pairing: str = "teacher_forced",
                 corrupt_rate: float = 0.25) -> None:
        super().__init__(net, mode=mode, start=start, t0=t0, t0_range=t0_range, lr=lr, ema_decay=ema_decay,
                         max_steps=max_steps)
        self.mask_id, self.pairing, self.corrupt_rate = mask_id, pairing, corrupt_rate

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.mode == "noise":
            return dfm_loss(self.net, batch[0], mask_id=self.mask_id)
        draft, x1 = batch
        if self.pairing == "hamming_ot":  # free-running drafts, matched to the batch's windows
            x1 = hamming_ot(draft, x1)
        elif self.pairing == "corrupt":
            draft = corrupt(x1, draft, self.corrupt_rate, torch.rand(x1.shape, device=x1.device))
        t0 = self.draw_t0(x1.shape[0], dtype=torch.float64, device=x1.device)
        return dfm_loss(self.net, x1, mask_id=self.mask_id, draft=draft, start=self.start, t0=t0)
