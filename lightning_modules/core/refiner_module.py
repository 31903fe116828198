"""What the continuous (FM) and discrete (DFM) LightningModules share: one net and its EMA
copy (sampling uses the EMA weights), the t0 draw of a t0-conditioned net, the training step
with its finite-loss check, and the optimiser with warm-up and cosine decay."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from lightning_modules.core.training import check_finite, warmup_cosine
from lightning_modules.core.validation import ValidationLoss

MODES = ("noise", "warm")


class RefinerModule(ValidationLoss, L.LightningModule):
    """mode="noise": the noise-start model (batches (x1,)); mode="warm": a refiner trained on
    (draft, x1) batches at a fixed t0 or, when the net is t0-conditioned, t0 ~ U[t0_range]."""

    optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam
    optimizer_kwargs: dict = {}
    loss_name = "training"  # named in the error of a non-finite loss

    def __init__(self, net: nn.Module, *, mode: str, start: str, t0: float,
                 t0_range: tuple[float, float] | None, lr: float, ema_decay: float, max_steps: int) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; allowed: {', '.join(MODES)}")
        self.net = net
        self.ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.mode, self.start = mode, start
        self.t0, self.t0_range = t0, t0_range
        self.lr, self.max_steps = lr, max_steps
        self.conditioned = bool(getattr(net, "t0_conditioned", False))

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        raise NotImplementedError

    def draw_t0(self, n: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """t0 per row: uniform on t0_range for a conditioned net, else the fixed t0."""
        if self.conditioned and self.t0_range is not None:
            lo, hi = self.t0_range
            return lo + (hi - lo) * torch.rand(n, dtype=dtype, device=device)
        return torch.full((n,), float(self.t0), dtype=dtype, device=device)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        check_finite(loss, self.loss_name, self.global_step)
        return loss  # the curve and progress callbacks read it (training.fit); no per-step self.log

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.loss(batch)

    def optimizer_step(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        # The EMA follows each optimiser step at once (as after the batch, numerically), so a
        # checkpoint written at the batch's end already holds this step's average.
        super().optimizer_step(*args, **kwargs)
        self.ema.update_parameters(self.net)

    def configure_optimizers(self):  # noqa: ANN201
        opt = self.optimizer_class(self.net.parameters(), lr=self.lr, **self.optimizer_kwargs)
        return {"optimizer": opt, "lr_scheduler": warmup_cosine(opt, self.max_steps)}

    def sampling_net(self, use_ema: bool = True) -> nn.Module:
        """The net to sample with: the EMA copy by default."""
        return self.ema.module if use_ema else self.net
