"""FLUID's stage II, Elastic Horizons (the authors' models/model_head.py): a small head on the
frozen adapted model's final hidden state at a trigger (a real slot followed by masks)
predicts how many of the masks after it are worth keeping.

The oracle K* of a trigger: with every real slot followed by k_max masks and nothing
restored, l_o is the loss of the mask at offset o (o = 1..k_max; the trigger's own
autoregressive loss is not in it), and K* is the largest k whose running mean
mean(l_1..l_k) stays below tau (an earlier mean above tau does not stop a later k), 1 where
none does. The paper's tau = 2.8 nats is for subword losses of a 7B model; here tau is a
quantile of this model's own per-character autoregressive losses. Triggers whose k_max masks
would run past the window's end are left out (their losses would be over fewer masks).
The head is trained against a Gaussian soft target around K* (sigma 1.5 classes), by soft
cross-entropy (the paper's KL, same gradient), on features computed once (the backbone is
frozen, so its hidden states and losses do not change while the head trains).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.training import check_finite, warmup_cosine
from lightning_modules.fluid.layout import build_layout, expand
from lightning_modules.fluid.net import FluidLM


class KHead(nn.Module):
    """Linear(h, h/4), GELU, Linear(h/4, k_max): class j is a horizon of j + 1 masks."""

    def __init__(self, width: int, k_max: int) -> None:
        super().__init__()
        self.k_max = k_max
        self.net = nn.Sequential(nn.Linear(width, width // 4), nn.GELU(), nn.Linear(width // 4, k_max))
        self.register_buffer("tau", torch.tensor(float("nan")))  # the oracle's threshold it was trained for

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden)

    def horizon(self, hidden: torch.Tensor) -> torch.Tensor:
        """The predicted horizon K in 1..k_max (argmax, as the authors' decoder)."""
        return self(hidden).argmax(-1) + 1


def oracle_horizon(losses: torch.Tensor, tau: float) -> torch.Tensor:
    """K* [N] from mask losses [N, k_max] (offsets 1..k_max): the largest k with
    mean(l_1..l_k) < tau, else 1."""
    k = torch.arange(1, losses.shape[1] + 1, device=losses.device)
    passing = (losses.cumsum(1) / k) < tau
    largest = torch.where(passing, k, torch.zeros_like(k)).amax(1)
    return largest.clamp_min(1)


def soft_target(k_star: torch.Tensor, k_max: int, sigma: float = 1.5) -> torch.Tensor:
    """[N, k_max]: exp(-(j - (K* - 1))^2 / (2 sigma^2)) over classes j, normalised."""
    j = torch.arange(k_max, dtype=torch.float32, device=k_star.device)
    logits = -((j.unsqueeze(0) - (k_star.unsqueeze(1) - 1).float()) ** 2) / (2.0 * sigma**2)
    return torch.softmax(logits, dim=1)


@torch.no_grad()
def trigger_features(net: FluidLM, windows: torch.Tensor, k_max: int,
                     batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(hidden [N, width], mask losses [N, k_max], autoregressive losses [n * L]) of every
    trigger whose k_max masks fit in its window, the model frozen (nats)."""
    length = windows.shape[1]
    if k_max >= length:
        raise ConfigError("substrate.fluid.k_max", k_max, f"< data.seq_len={length} (a trigger needs k_max masks "
                          "after it inside its window)")
    layout = build_layout([k_max] * length, net.bidirectional)
    triggers = torch.arange(length - k_max)  # c + k_max <= L - 1
    offset = (layout.position - layout.column)[layout.is_mask]
    column = layout.column[layout.is_mask]
    pick = torch.stack([((column == c) & (offset >= 1)).nonzero().squeeze(1) for c in triggers.tolist()])
    device = net.head.weight.device
    hiddens, losses, ar_losses = [], [], []
    for chunk in windows.long().split(batch_size):
        inputs, labels = expand(chunk, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=net.vocab_size,
                                restore=False)
        h = net.embed(inputs.to(device)) + net.position[layout.position.to(device)]
        for block in net.blocks:
            h = block(h, mask=layout.attend.to(device))
        hidden = net.norm(h)
        ce = F.cross_entropy(net.head(hidden).flatten(0, 1), labels.to(device).flatten(),
                             reduction="none").view(labels.shape)
        real = ~layout.is_mask.to(device)
        ar_losses.append(ce[:, real].flatten().cpu())
        hiddens.append(hidden[:, triggers.to(device)].flatten(0, 1).cpu())
        losses.append(ce[:, layout.is_mask.to(device)][:, pick.to(device)].flatten(0, 1).cpu())
    return torch.cat(hiddens), torch.cat(losses), torch.cat(ar_losses)


class HeadModule(L.LightningModule):
    """Soft cross-entropy of the head's classes against the Gaussian target around K*."""

    def __init__(self, head: KHead, *, sigma: float, lr: float, max_steps: int) -> None:
        super().__init__()
        self.head, self.sigma, self.lr, self.max_steps = head, float(sigma), float(lr), int(max_steps)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        hidden, k_star = batch
        target = soft_target(k_star, self.head.k_max, self.sigma)
        loss = -(target * F.log_softmax(self.head(hidden), dim=-1)).sum(-1).mean()
        check_finite(loss, "fluid_head", self.global_step)
        self.log("train/soft_ce", loss, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):  # noqa: ANN201
        opt = torch.optim.AdamW(self.head.parameters(), lr=self.lr, weight_decay=0.0)
        return {"optimizer": opt, "lr_scheduler": warmup_cosine(opt, self.max_steps)}


def histogram(k: torch.Tensor, k_max: int) -> list[float]:
    """Shares of horizons 1..k_max."""
    counts = torch.bincount(k.long().flatten(), minlength=k_max + 1)[1: k_max + 1].double()
    return (counts / counts.sum().clamp_min(1)).tolist()
