"""Small character LSTM drafter (a LightningModule); width and training steps are its knobs.

Trained by next-token cross-entropy on training windows; drafts are sampled token by token
from the softmax, with per-sample uniforms, so draft i depends only on (seed, start + i).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of
from lightning_modules.core.training import check_finite
from lightning_modules.core.validation import ValidationLoss


class LSTMDrafter(ValidationLoss, L.LightningModule):
    def __init__(self, vocab_size: int, seq_len: int, width: int = 128, layers: int = 1, lr: float = 3e-3) -> None:
        super().__init__()
        self.vocab_size, self.seq_len, self.lr = vocab_size, seq_len, lr
        self.bos = vocab_size  # an extra start token conditions the first character
        self.embed = nn.Embedding(vocab_size + 1, width)
        self.lstm = nn.LSTM(width, width, num_layers=layers, batch_first=True)
        self.head = nn.Linear(width, vocab_size)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits [n, L, V] for inputs [n, L] (position i sees tokens < i and BOS)."""
        bos = torch.full_like(tokens[:, :1], self.bos)
        h, _ = self.lstm(self.embed(torch.cat([bos, tokens[:, :-1]], dim=1)))
        return self.head(h)

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Cross-entropy per token (nats) of a batch of windows."""
        tokens = batch[0]
        return F.cross_entropy(self.logits(tokens).flatten(0, 1), tokens.flatten())

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.val_loss(batch)
        check_finite(loss, "LSTM", self.global_step)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def flops_per_sample(self) -> float:
        """Matrix-product FLOPs of one draft: FlopCounterMode counts 0 for nn.LSTM, so count them
        here, 2 * 4H(I + H) per layer per token (the four gates) plus the head's 2 * H * V."""
        h = self.lstm.hidden_size
        gates = sum(2 * 4 * h * ((self.embed.embedding_dim if k == 0 else h) + h) for k in range(self.lstm.num_layers))
        return float(self.seq_len * (gates + 2 * h * self.vocab_size))

    @torch.no_grad()
    def teacher_forced(self, x1: torch.Tensor, *, seed: int, start: int = 0) -> torch.Tensor:
        """Drafts paired with data x1 [n, L]: token p drawn from the LSTM given x1's own
        preceding tokens (what the drafter would write there), so draft and data are coupled."""
        device = device_of(self)
        u = seeding.rand(*x1.shape, seed=seed, stream="drafter/lstm/teacher_forced", start=start, device=device)
        out = []
        for rows, u_rows in zip(x1.split(4096), u.split(4096), strict=True):
            cdf = F.softmax(self.logits(rows.to(self.head.weight.device)).double(), dim=-1).cumsum(-1)
            target = u_rows.to(cdf.device).double().unsqueeze(-1) * cdf[..., -1:]
            out.append(torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_max(self.vocab_size - 1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        """n drafts [n, seq_len] of token ids (inverse-CDF sampling with per-sample uniforms)."""
        device = device_of(self)
        u = seeding.rand(n, self.seq_len, seed=seed, stream="drafter/lstm", start=start, device=device)
        token = torch.full((n, 1), self.bos, dtype=torch.long, device=device)
        state = None
        out = []
        for p in range(self.seq_len):
            h, state = self.lstm(self.embed(token), state)
            probs = F.softmax(self.head(h[:, -1]).double(), dim=-1)
            cdf = probs.cumsum(-1)
            target = u[:, p].double().unsqueeze(1) * cdf[:, -1:]
            token = torch.searchsorted(cdf, target, right=True).clamp_max(self.vocab_size - 1)
            out.append(token)
        return torch.cat(out, dim=1)
