"""Stage I of FLUID: the adapted model's autoregressive loss on the real slots plus its loss on
the masks (the tokens after the next one), each the mean cross-entropy of its slots, on a
fresh layout per training step (lightning_modules/fluid/layout.py). The authors' code pools
both into one mean, where the masks outnumber the real slots; the sum of the two means keeps
the autoregressive term at its own weight. Full fine-tuning: at 0.47M parameters there is
nothing for LoRA to save. Validation: the autoregressive loss (what adaptation costs)."""

from __future__ import annotations

import lightning as L
import torch
from torch.nn import functional as F

from lightning_modules.core.training import check_finite, warmup_cosine
from lightning_modules.core.validation import ValidationLoss
from lightning_modules.fluid.layout import IGNORE, build_layout, draw_blocks, expand
from lightning_modules.fluid.net import FluidLM


class FluidModule(ValidationLoss, L.LightningModule):
    def __init__(self, net: FluidLM, *, k_max: int, share: float, noise: float, lr: float, max_steps: int,
                 weight_decay: float = 0.01) -> None:
        super().__init__()
        self.net, self.k_max, self.share, self.noise = net, int(k_max), float(share), float(noise)
        self.lr, self.max_steps, self.weight_decay = lr, max_steps, weight_decay

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(autoregressive loss, mask loss) of windows x [n, L] on a freshly drawn layout."""
        net = self.net
        layout = build_layout(draw_blocks(x.shape[1], self.k_max, self.share), net.bidirectional)
        inputs, labels = expand(x.cpu(), layout, bos=net.bos, mask_id=net.mask_id, vocab_size=net.vocab_size,
                                noise=self.noise)
        logits = net(inputs.to(x.device), layout)
        masks = layout.is_mask.to(x.device)
        ce = F.cross_entropy(logits.flatten(0, 1), labels.to(x.device).flatten(), reduction="none").view(labels.shape)
        ar = ce[:, ~masks].mean()
        scored = (labels.to(x.device) != IGNORE) & masks
        return ar, (ce[scored].sum() / scored.sum() if bool(scored.any()) else torch.zeros((), device=x.device))

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        ar, ahead = self.losses(batch[0].long())
        loss = ar + ahead
        check_finite(loss, "fluid", self.global_step)
        self.log("train/ar", ar, on_step=True, on_epoch=False)
        self.log("train/ahead", ahead, on_step=True, on_epoch=False)
        return loss

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        tokens = batch[0].long()
        return F.cross_entropy(self.net(tokens).flatten(0, 1), tokens.flatten())

    def configure_optimizers(self):  # noqa: ANN201
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, betas=(0.9, 0.99), weight_decay=self.weight_decay)
        return {"optimizer": opt, "lr_scheduler": warmup_cosine(opt, self.max_steps)}
