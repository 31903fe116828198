"""Training the autoregressive baseline: next-character cross-entropy on whole windows, and its
exact validation bits per character (each window scored from BOS, every position)."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.nn import functional as F

from lightning_modules.core.training import check_finite, warmup_cosine
from lightning_modules.core.validation import ValidationLoss
from lightning_modules.nets.causal import CausalLM


class ARModule(ValidationLoss, L.LightningModule):
    def __init__(self, lm: CausalLM, *, lr: float = 1e-3, max_steps: int = 20_000, weight_decay: float = 0.01) -> None:
        super().__init__()
        self.lm, self.lr, self.max_steps, self.weight_decay = lm, lr, max_steps, weight_decay

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Cross-entropy per character (nats) of a batch of windows."""
        tokens = batch[0].long()
        return F.cross_entropy(self.lm(tokens).flatten(0, 1), tokens.flatten())

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.val_loss(batch)
        check_finite(loss, "autoregressive", self.global_step)
        return loss

    def configure_optimizers(self):  # noqa: ANN201
        opt = torch.optim.AdamW(self.lm.parameters(), lr=self.lr, betas=(0.9, 0.99), weight_decay=self.weight_decay)
        return {"optimizer": opt, "lr_scheduler": warmup_cosine(opt, self.max_steps)}


@torch.no_grad()
def bits_per_char(lm: CausalLM, windows: torch.Tensor, batch_size: int = 256) -> float:
    """Exact negative log-likelihood of `windows` [n, L] in bits per character (float64 sum)."""
    was_training = lm.training
    lm.eval()
    total, count = 0.0, 0
    for chunk in windows.long().split(batch_size):
        chunk = chunk.to(lm.head.weight.device)
        logp = torch.log_softmax(lm(chunk).double(), dim=-1)
        total -= float(logp.gather(-1, chunk.unsqueeze(-1)).sum())
        count += chunk.numel()
    lm.train(was_training)
    return total / max(count, 1) / math.log(2)
