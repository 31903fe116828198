"""The built-in drafters' registrations: how each is built, fitted and validated.

Vector data (toy points): gmm, vae. Images: ppca, conv_vae, gan. Tokens (text): ngram, lstm.
`build(d, dm)` makes the untrained module from the drafter config `d` and the data module;
`fit(model, d, dm)` trains it in place and returns what the trial records under `train`.
"""

from __future__ import annotations

import time

import torch

from lightning_modules import drafters
from lightning_modules.core.registry import Knob, register_drafter
from lightning_modules.core.training import fit
from lightning_modules.core.validation import held_out
from lightning_modules.data.toy import RandomBatches

SEED = Knob("seed", int, 0, low=0)


def steps(default: int) -> Knob:
    return Knob("steps", int, default, low=1, help="training steps")


def batch(default: int) -> Knob:
    return Knob("batch_size", int, default, low=2)


def lr(default: float) -> Knob:
    return Knob("lr", float, default, low=0.0, help="learning rate (> 0)")


def latent(default: int) -> Knob:
    return Knob("latent", int, default, low=1)


WIDTH = Knob("width", int, 32, low=1)


def _timed(fitted: torch.nn.Module, model: torch.nn.Module, method: str, start: float) -> dict:
    model.load_state_dict(fitted.state_dict())
    return {"seconds": time.perf_counter() - start, "final_loss": None, "method": method}


def _fit_steps(model, d, dm) -> dict:  # noqa: ANN001
    # A held-out validation loss for drafters that have one (not the GAN: its losses are a game).
    val = held_out(dm.val, batch_size=d.batch_size) if hasattr(model, "val_loss") else None
    return fit(model, RandomBatches(dm.train, batch_size=d.batch_size, seed=d.seed), max_steps=d.steps, seed=d.seed,
               val_batches=val)


def _gmm_build(d, dm):  # noqa: ANN001, ANN202
    k, dim = d.n_components, dm.shape[0]
    return drafters.GMMDrafter(torch.ones(k) / k, torch.zeros(k, dim), torch.eye(dim).repeat(k, 1, 1))


def _gmm_fit(model, d, dm) -> dict:  # noqa: ANN001
    start = time.perf_counter()
    return _timed(drafters.GMMDrafter.fit(dm.train, d.n_components, seed=d.seed), model, "EM", start)


def _ppca_fit(model, d, dm) -> dict:  # noqa: ANN001
    start = time.perf_counter()
    return _timed(drafters.PPCADrafter.fit(dm.train, d.latent), model, "closed form", start)


def _ngram_fit(model, d, dm) -> dict:  # noqa: ANN001
    start = time.perf_counter()
    fitted = drafters.NGramDrafter.fit(dm.train.flatten(), dm.vocab_size, dm.seq_len, d.order)
    return _timed(fitted, model, "counts", start)


register_drafter(
    "gmm", kinds=("vector",), build=_gmm_build, fit=_gmm_fit, record_knobs=("n_components",), effort=lambda d: 0.0,
    knobs=(Knob("n_components", int, 16, low=1, help="mixture components (1 = deliberately poor)"), SEED),
)
register_drafter(
    "vae", kinds=("vector",), fit=_fit_steps, record_knobs=("latent",),
    build=lambda d, dm: drafters.VAEDrafter(dim=dm.shape[0], latent=d.latent, hidden=d.hidden, lr=d.lr),
    knobs=(latent(2), Knob("hidden", int, 64, low=1), steps(3000), batch(256), lr(2e-3), SEED),
)
register_drafter(
    "ppca", kinds=("image",), fit=_ppca_fit, record_knobs=("latent",), effort=lambda d: 0.0,
    build=lambda d, dm: drafters.PPCADrafter(shape=dm.shape, latent=d.latent), knobs=(latent(8), SEED),
)
register_drafter(
    "conv_vae", kinds=("image",), fit=_fit_steps, record_knobs=("latent",),
    build=lambda d, dm: drafters.ConvVAEDrafter(shape=dm.shape, latent=d.latent, width=d.width, lr=d.lr, beta=d.beta),
    knobs=(latent(16), WIDTH, Knob("beta", float, 1.0, low=0.0), steps(2000), batch(128), lr(2e-3), SEED),
)
register_drafter(
    "gan", kinds=("image",), fit=_fit_steps, record_knobs=("latent",),
    build=lambda d, dm: drafters.GANDrafter(shape=dm.shape, latent=d.latent, width=d.width, lr=d.lr, arch=d.arch),
    knobs=(Knob("arch", str, "mlp", choices=("mlp", "dcgan")), latent(16), WIDTH, steps(6000), batch(128), lr(2e-4),
           SEED),
)
register_drafter(
    "ngram", kinds=("tokens",), fit=_ngram_fit, record_knobs=("order",), effort=lambda d: 0.0,
    build=lambda d, dm: drafters.NGramDrafter(dm.vocab_size, dm.seq_len, d.order),
    knobs=(Knob("order", int, 4, low=1, help="context length + 1 (the quality knob)"), SEED),
)
register_drafter(
    "lstm", kinds=("tokens",), fit=_fit_steps, record_knobs=("width", "steps"),
    build=lambda d, dm: drafters.LSTMDrafter(dm.vocab_size, dm.seq_len, width=d.width, layers=d.layers, lr=d.lr),
    knobs=(Knob("width", int, 128, low=1), Knob("layers", int, 1, low=1), steps(1500), batch(64), lr(3e-3), SEED),
)
