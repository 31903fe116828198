"""A small convolutional VAE drafter for images (a LightningModule).

Shape-generic for H and W divisible by 4 (8, 28 and 32 all are): two stride-2 convolutions
take the image to a (2 width, H/4, W/4) map, a dense layer to the latent Gaussian, and the
decoder mirrors it with transposed convolutions. The likelihood is Gaussian with one learned
log-variance for all pixels (the "sigma-VAE" balance of reconstruction and KL, without
tuning a fixed noise level; a per-pixel variance would run to zero on the constant border
pixels of digits). Drafts are the decoder means by default: pixel noise makes worse drafts.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of
from lightning_modules.core.training import check_finite
from lightning_modules.core.validation import ValidationLoss

# Floor of the learned log-variance: stops the likelihood from running away once the decoder
# fits some images almost exactly (variance e^-9, about a 1% pixel error in [-1, 1]).
_MIN_LOGVAR = -9.0


def check_image_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, H, W) with H and W divisible by 4, as the two stride-2 stages need."""
    if len(shape) != 3 or shape[1] % 4 or shape[2] % 4:
        raise ValueError(f"shape={tuple(shape)}: need (C, H, W) with H and W divisible by 4")
    return tuple(int(s) for s in shape)


class ConvEncoder(nn.Module):
    """Image -> 2 stride-2 convolutions -> flat features (2 width x H/4 x W/4)."""

    def __init__(self, shape: tuple[int, int, int], width: int) -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(),
        )
        self.n_features = 2 * width * (h // 4) * (w // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Latent -> dense (2 width, H/4, W/4) map -> 2 transposed convolutions -> C channels."""

    def __init__(self, shape: tuple[int, int, int], latent: int, width: int) -> None:
        super().__init__()
        c, h, w = shape
        self.seed_map = (2 * width, h // 4, w // 4)
        self.dense = nn.Linear(latent, math.prod(self.seed_map))
        self.net = nn.Sequential(
            nn.SiLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, c, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.dense(z).view(-1, *self.seed_map))


class ConvVAEDrafter(ValidationLoss, L.LightningModule):
    """Conv VAE; knobs `latent`, `width`, `lr`, `beta` (KL weight), `sample_noise`."""

    def __init__(self, shape: tuple[int, int, int] = (1, 8, 8), latent: int = 16, width: int = 32,
                 lr: float = 2e-3, beta: float = 1.0, sample_noise: bool = False) -> None:
        super().__init__()
        self.shape = check_image_shape(shape)
        self.latent, self.width, self.lr, self.beta = latent, width, lr, beta
        self.sample_noise = sample_noise
        self.encoder = ConvEncoder(self.shape, width)
        self.to_latent = nn.Linear(self.encoder.n_features, 2 * latent)
        self.decoder = ConvDecoder(self.shape, latent, width)
        self.out_logvar = nn.Parameter(torch.tensor(-2.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance [n, latent] each."""
        mu, logvar = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per image (Gaussian likelihood, constant terms dropped)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.decoder(z)
        out_logvar = self.out_logvar.clamp_min(_MIN_LOGVAR)
        nll = 0.5 * (((x - recon) ** 2) / out_logvar.exp() + out_logvar).flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return (nll + self.beta * kl).mean()

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch[0])
        check_finite(loss, "conv VAE", self.global_step)
        return loss

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.loss(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        """n drafts [n, C, H, W] in [-1, 1]; draft i depends only on (seed, start + i)."""
        pixels = math.prod(self.shape) if self.sample_noise else 0
        device = device_of(self)
        ze = seeding.randn(n, self.latent + pixels, seed=seed, stream="drafter/conv_vae", start=start, device=device)
        ze = ze.to(self.out_logvar)
        e = ze[:, self.latent:].view(n, *self.shape) if self.sample_noise else None
        return self.forward(ze[:, : self.latent], e).clamp(-1.0, 1.0)

    def forward(self, z: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder mean, plus observation noise sigma * e when e is given (unclamped)."""
        x = self.decoder(z)
        if e is not None:
            x = x + (0.5 * self.out_logvar.clamp_min(_MIN_LOGVAR)).exp() * e
        return x
