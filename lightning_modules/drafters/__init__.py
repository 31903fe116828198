"""Drafters: cheap generators with `sample(n, *, seed, start=0) -> Tensor [n, dim]`.

Sample i of a draw depends only on (seed, start + i), like every other random stream here.
"""

from lightning_modules.drafters.gmm import GMMDrafter
from lightning_modules.drafters.vae import VAEDrafter

DRAFTERS = ("gmm", "vae")

__all__ = ["DRAFTERS", "GMMDrafter", "VAEDrafter"]
