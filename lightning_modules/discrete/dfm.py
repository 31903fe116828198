"""The discrete flow-matching LightningModule (text): masked baseline and WS-DFM refiners.

Thin like `flow.FlowMatching`: one denoiser, its EMA copy, a cross-entropy loss on the
mixture paths of `discrete.py`, the optimiser. Sampling lives in `methods_text.py`.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from lightning_modules.discrete.mixture import mixture_state, source_state
from lightning_modules.core.training import check_finite, warmup_cosine


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


class DiscreteFlowMatching(L.LightningModule):
    """mode="noise": masked baseline, batches (x1,). mode="warm": WS-DFM, batches (draft, x1),
    at a fixed t0 or, for a t0-conditioned denoiser, t0 ~ U[t0_range]."""

    def __init__(self, net: nn.Module, *, mask_id: int, mode: str = "noise", start: str = "noised",
                 t0: float = 0.8, t0_range: tuple[float, float] | None = None, lr: float = 1e-3,
                 ema_decay: float = 0.999, max_steps: int = 3000) -> None:
        super().__init__()
        if mode not in ("noise", "warm"):
            raise ValueError(f"unknown mode '{mode}'; allowed: noise, warm")
        self.net = net
        self.ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.mask_id, self.mode, self.start = mask_id, mode, start
        self.t0, self.t0_range, self.lr, self.max_steps = t0, t0_range, lr, max_steps
        self.conditioned = bool(getattr(net, "t0_conditioned", False))

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.mode == "noise":
            return dfm_loss(self.net, batch[0], mask_id=self.mask_id)
        draft, x1 = batch
        n = x1.shape[0]
        if self.conditioned and self.t0_range is not None:
            lo, hi = self.t0_range
            t0 = lo + (hi - lo) * torch.rand(n, dtype=torch.float64, device=x1.device)
        else:
            t0 = torch.full((n,), float(self.t0), dtype=torch.float64, device=x1.device)
        return dfm_loss(self.net, x1, mask_id=self.mask_id, draft=draft, start=self.start, t0=t0)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        check_finite(loss, "denoiser", self.global_step)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:  # noqa: ANN001
        self.ema.update_parameters(self.net)

    def configure_optimizers(self):  # noqa: ANN201
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=0.0)
        return {"optimizer": opt, "lr_scheduler": warmup_cosine(opt, self.max_steps)}

    def denoiser(self, use_ema: bool = True) -> nn.Module:
        """The net to sample with: the EMA copy by default."""
        return self.ema.module if use_ema else self.net
