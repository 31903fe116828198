"""A small MLP VAE drafter (a LightningModule); latent size and training steps are its knobs."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of
from lightning_modules.core.training import check_finite
from lightning_modules.core.validation import ValidationLoss


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


class VAEDrafter(ValidationLoss, L.LightningModule):
    """Gaussian VAE with a learned per-dimension output variance (so samples are not a thin curve)."""

    def __init__(self, dim: int = 2, latent: int = 2, hidden: int = 64, lr: float = 2e-3, beta: float = 1.0) -> None:
        super().__init__()
        self.latent, self.lr, self.beta = latent, lr, beta
        self.encoder = _mlp(dim, hidden, 2 * latent)
        self.decoder = _mlp(latent, hidden, dim)
        self.out_logvar = nn.Parameter(torch.full((dim,), -2.0))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per example (Gaussian likelihood, constant terms dropped)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.decoder(z)
        nll = 0.5 * (((x - recon) ** 2) / self.out_logvar.exp() + self.out_logvar).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return (nll + self.beta * kl).mean()

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch[0])
        check_finite(loss, "VAE", self.global_step)
        return loss

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.loss(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        device = device_of(self)
        z = seeding.randn(n, self.latent, seed=seed, stream="drafter/z", start=start, device=device)
        e = seeding.randn(n, self.out_logvar.shape[0], seed=seed, stream="drafter/obs", start=start, device=device)
        return self.forward(z.to(self.out_logvar), e.to(self.out_logvar))

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.decoder(z) + (0.5 * self.out_logvar).exp() * e
