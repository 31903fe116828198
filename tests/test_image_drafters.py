"""Image drafters beyond the basics of test_drafters_images.py: the PPCA closed form (mean,
covariance, held-out likelihood and reconstruction by component count) and a few hundred
training steps of the conv VAE (its loss falls) and the GAN (both losses stay finite)."""

import pytest
import torch

from lightning_modules.core import seeding
from lightning_modules.core.training import fit
from lightning_modules.data.images import ImageDataModule
from lightning_modules.data.toy import RandomBatches
from lightning_modules.drafters import ConvVAEDrafter, GANDrafter, PPCADrafter

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> ImageDataModule:
    return ImageDataModule("digits")


def test_ppca_mean_is_the_data_mean_and_residual_variance_the_discarded_mean(digits):
    p = PPCADrafter.fit(digits.train, latent=8)
    x = digits.train.flatten(1).double()
    assert torch.allclose(p.mean.double(), x.mean(0), atol=1e-6)
    eig = torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)
    assert p.noise_std.item() ** 2 == pytest.approx(eig[8:].mean().item(), rel=1e-4)
    # The kept directions carry exactly the top eigenvalues: W W^T + sigma^2 has them.
    model_eig = torch.linalg.eigvalsh(p.covariance().double()).flip(0)
    assert torch.allclose(model_eig[:8], eig[:8], rtol=1e-4)


def test_ppca_sample_covariance_approaches_the_model_covariance(digits):
    p = PPCADrafter.fit(digits.train, latent=6)
    n, dim = 40000, p.mean.shape[0]
    g = torch.Generator().manual_seed(0)
    # The unclamped draws (forward), since clamping to [-1, 1] shrinks the variance.
    x = p(torch.randn(n, 6, generator=g), torch.randn(n, dim, generator=g)).flatten(1).double()
    model = p.covariance().double()
    err = torch.linalg.matrix_norm(torch.cov(x.T) - model) / torch.linalg.matrix_norm(model)
    assert err < 0.03


def test_ppca_log_prob_is_the_gaussian_density(digits):
    p = PPCADrafter.fit(digits.train, latent=4)
    mvn = torch.distributions.MultivariateNormal(p.mean.double(), covariance_matrix=p.covariance().double())
    expected = mvn.log_prob(digits.val.flatten(1).double())
    assert torch.allclose(p.log_prob(digits.val).double(), expected, rtol=1e-4, atol=1e-3)


def test_more_ppca_components_fit_held_out_digits_better(digits):
    fits = [PPCADrafter.fit(digits.train, latent=q) for q in (1, 4, 16, 32)]
    recon = [(p.reconstruct(digits.val) - digits.val).pow(2).mean().item() for p in fits]
    loglik = [p.log_prob(digits.val).mean().item() for p in fits]
    assert recon == sorted(recon, reverse=True) and recon[-1] < 0.5 * recon[0]
    assert loglik == sorted(loglik)


def test_ppca_drafts_use_only_their_own_stream():
    p = PPCADrafter(shape=(1, 8, 8), latent=3)
    ze = seeding.randn(4, 3 + 64, seed=5, stream="drafter/ppca")
    assert torch.equal(p.sample(4, seed=5), p(ze[:, :3], ze[:, 3:]).clamp(-1, 1))


def test_conv_vae_loss_falls_over_a_few_hundred_steps(digits):
    torch.manual_seed(0)
    vae = ConvVAEDrafter(shape=(1, 8, 8), latent=8, width=16)

    def val_loss() -> float:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)  # the same posterior noise before and after training
            return vae.loss(digits.val).item()

    before = val_loss()
    info = fit(vae, RandomBatches(digits.train, batch_size=64, seed=0), max_steps=300, seed=0)
    after = val_loss()
    assert info["steps"] == 300 and torch.isfinite(torch.tensor(info["final_loss"]))
    assert after < before - 20  # nats per image: well past noise
    # Observation noise is opt-in and only adds to the decoder mean.
    noisy = ConvVAEDrafter(shape=(1, 8, 8), latent=8, width=16, sample_noise=True)
    noisy.load_state_dict(vae.state_dict())
    assert not torch.equal(noisy.sample(4, seed=0), vae.sample(4, seed=0))


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_gan_trains_a_few_hundred_steps_with_finite_losses(digits, arch):
    torch.manual_seed(0)
    gan = GANDrafter(shape=(1, 8, 8), latent=8, width=16, arch=arch)
    # max_steps counts optimiser steps: 400 = 200 batches (one D and one G step each).
    info = fit(gan, RandomBatches(digits.train, batch_size=64, seed=0), max_steps=400, seed=0)
    assert info["steps"] == 400 and torch.isfinite(torch.tensor(info["final_loss"]))
    drafts = gan.sample(16, seed=0)
    assert torch.isfinite(drafts).all() and drafts.std(0).mean() > 0.01  # not one constant image
