"""Probabilistic PCA drafter for images: closed-form fit, the component count is the quality knob.

Tipping & Bishop (1999): x = mean + W z + sigma e with z ~ N(0, I_latent), e ~ N(0, I_D). The
maximum-likelihood fit keeps the top `latent` principal directions of the centred data,
W = U_q (Lambda_q - sigma^2 I)^(1/2), and puts the remaining variance into one isotropic
sigma^2 = mean of the discarded eigenvalues. Few components give blurry, noisy drafts; many
give sharper ones (and, with as many components as images, memorise the training set).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of

# Keeps the residual variance positive when every direction with variance is kept
# (e.g. latent >= number of images - 1), so the likelihood stays finite.
_MIN_VARIANCE = 1e-6


class PPCADrafter(nn.Module):
    """PPCA over flattened images of `shape`; untrained it is N(0, I) (W = 0, sigma = 1)."""

    def __init__(self, shape: tuple[int, int, int] = (1, 8, 8), latent: int = 8) -> None:
        super().__init__()
        dim = math.prod(shape)
        if not 1 <= latent < dim:
            raise ValueError(f"latent={latent}: must be between 1 and {dim - 1} (the pixel count minus one)")
        self.shape, self.latent = tuple(shape), latent
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("weight", torch.zeros(dim, latent))
        self.register_buffer("noise_std", torch.ones(()))

    @classmethod
    def fit(cls, images: torch.Tensor, latent: int) -> PPCADrafter:
        """Maximum-likelihood PPCA of images [n, C, H, W] (SVD of the centred data, in float64)."""
        x = images.reshape(images.shape[0], -1).double()
        n, dim = x.shape
        model = cls(tuple(images.shape[1:]), latent)
        mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
        eig = torch.zeros(dim, dtype=torch.float64)
        eig[: s.shape[0]] = s**2 / n  # the MLE covariance divides by n; directions beyond rank have 0
        # Mean over all D - latent discarded directions, including the zero ones past the rank.
        variance = eig[latent:].mean().clamp_min(_MIN_VARIANCE)
        kept = min(latent, vh.shape[0])
        scale = (eig[:kept] - variance).clamp_min(0.0).sqrt()
        weight = torch.zeros(dim, latent, dtype=torch.float64)
        weight[:, :kept] = vh[:kept].T * scale
        model.mean.copy_(mean)
        model.weight.copy_(weight)
        model.noise_std.copy_(variance.sqrt())
        return model

    def covariance(self) -> torch.Tensor:
        """Model covariance W W^T + sigma^2 I [D, D]."""
        eye = torch.eye(self.mean.shape[0], dtype=self.weight.dtype, device=self.weight.device)
        return self.weight @ self.weight.T + self.noise_std**2 * eye

    def log_prob(self, images: torch.Tensor) -> torch.Tensor:
        """Gaussian log-density of each image [n] (Woodbury: only a latent x latent solve)."""
        d = images.reshape(images.shape[0], -1).double() - self.mean.double()
        w, var = self.weight.double(), self.noise_std.double() ** 2
        dim, q = w.shape
        m = w.T @ w + var * torch.eye(q, dtype=torch.float64, device=w.device)
        chol = torch.linalg.cholesky(m)
        # C^-1 = (I - W M^-1 W^T) / sigma^2 and log|C| = (D - q) log sigma^2 + log|M|.
        proj = torch.cholesky_solve((d @ w).T, chol).T
        maha = ((d * d).sum(1) - (d @ w * proj).sum(1)) / var
        logdet = (dim - q) * var.log() + 2 * chol.diagonal().log().sum()
        return (-0.5 * (maha + logdet + dim * math.log(2 * math.pi))).float()

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Orthogonal projection of images onto mean + span(W) (the PCA reconstruction)."""
        d = images.reshape(images.shape[0], -1) - self.mean
        coef = torch.linalg.lstsq(self.weight, d.T).solution
        return (self.mean + (self.weight @ coef).T).reshape(images.shape)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        """n drafts [n, C, H, W] in [-1, 1]; draft i depends only on (seed, start + i)."""
        q = self.latent
        device = device_of(self)
        ze = seeding.randn(n, q + self.mean.shape[0], seed=seed, stream="drafter/ppca", start=start, device=device)
        ze = ze.to(self.mean)
        return self.forward(ze[:, :q], ze[:, q:]).clamp(-1.0, 1.0)

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Unclamped x = mean + W z + sigma e, as images (the measured sampling work)."""
        x = torch.addmm(self.mean, z, self.weight.T) + self.noise_std * e
        return x.reshape(-1, *self.shape)
