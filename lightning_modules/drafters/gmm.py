"""Gaussian-mixture drafter: a plain fitted model (EM), the component count is its quality knob.

One component is the deliberately poor drafter; sixteen fit two-moons closely enough that
sliced distances call it nearly perfect, while fine-structure metrics do not.
"""

from __future__ import annotations

import torch
from sklearn.mixture import GaussianMixture
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of


class GMMDrafter(nn.Module):
    work = "random draws, a component lookup and one small matrix product per sample (only the product is counted)"

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, chol: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("cum_weights", torch.cumsum(weights, 0))
        self.register_buffer("means", means)
        self.register_buffer("chol", chol)

    @classmethod
    def fit(cls, data: torch.Tensor, n_components: int, seed: int = 0, max_iter: int = 200) -> GMMDrafter:
        """Fit by EM (scikit-learn) with full covariances; deterministic in seed."""
        gm = GaussianMixture(n_components, covariance_type="full", random_state=seed, max_iter=max_iter)
        gm.fit(data.double().numpy())
        covs = torch.as_tensor(gm.covariances_)
        return cls(
            torch.as_tensor(gm.weights_, dtype=torch.float32),
            torch.as_tensor(gm.means_, dtype=torch.float32),
            torch.linalg.cholesky(covs).float(),
        )

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        device = device_of(self)
        u = seeding.rand(n, seed=seed, stream="drafter/component", start=start, device=device)
        z = seeding.randn(n, self.means.shape[1], seed=seed, stream="drafter/z", start=start, device=device)
        k = torch.searchsorted(self.cum_weights, u.clamp_max(self.cum_weights[-1] * (1 - 1e-7)))
        return self.forward(k, z)

    def forward(self, k: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Component k's mean plus its Cholesky factor times z (the measured sampling work)."""
        return self.means[k] + torch.bmm(self.chol[k], z.unsqueeze(-1)).squeeze(-1)
