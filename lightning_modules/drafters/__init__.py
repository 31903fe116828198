"""Drafters: cheap generators with `sample(n, *, seed, start=0) -> Tensor [n, *shape]`.

Sample i of a draw depends only on (seed, start + i), like every other random stream here.
Points (toy): gmm, vae. Images: ppca, conv_vae, gan. Text: ngram, lstm (these also draft
`teacher_forced(x1)`: each token given x1's preceding tokens, for coupled training pairs).
"""

from lightning_modules.drafters.conv_vae import ConvVAEDrafter
from lightning_modules.drafters.gan import GANDrafter
from lightning_modules.drafters.gmm import GMMDrafter
from lightning_modules.drafters.lstm import LSTMDrafter
from lightning_modules.drafters.ngram import NGramDrafter
from lightning_modules.drafters.ppca import PPCADrafter
from lightning_modules.drafters.vae import VAEDrafter

DRAFTERS = ("gmm", "vae", "ppca", "conv_vae", "gan", "ngram", "lstm")

__all__ = ["DRAFTERS", "ConvVAEDrafter", "GANDrafter", "GMMDrafter", "LSTMDrafter", "NGramDrafter", "PPCADrafter", "VAEDrafter"]
