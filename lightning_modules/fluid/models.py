"""The FLUID family's trained models: `fluid` (settings in substrate.fluid), the substrate's
autoregressive model `ar` after FLUID's stage I (lightning_modules/fluid/module.py), and
`fluid_head` (substrate.fluid_head), stage II's elastic-horizon head on it
(lightning_modules/fluid/horizon.py). Trained once, cached, shipped like the substrate."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn import functional as F

from lightning_modules.autoregressive.module import bits_per_char
from lightning_modules.core.knobs import Knob
from lightning_modules.core.roles import section, substrate_spec, without_off
from lightning_modules.core.training import fit
from lightning_modules.core.validation import held_out
from lightning_modules.data.toy import RandomBatches
from lightning_modules.fluid.horizon import (
    HeadModule,
    KHead,
    histogram,
    oracle_horizon,
    trigger_features,
)
from lightning_modules.fluid.layout import build_layout, expand
from lightning_modules.fluid.module import FluidModule
from lightning_modules.fluid.net import FluidLM

FLUID = "fluid"
KNOBS = (
    Knob("k_max", int, 8, low=1, help="masks after a real slot: U{1..k_max} (the paper's 16; windows here are 64)"),
    Knob("share", float, 0.5, low=0.0, high=1.0, help="share of real slots followed by a block of masks"),
    Knob("noise", float, 0.1, low=0.0, high=1.0, help="a restored mask shows a random character with this probability"),
    Knob("steps", int, 5000, low=1), Knob("batch_size", int, 64, low=2), Knob("lr", float, 3.0e-4, low=0.0),
    Knob("seed", int, 0, low=0), Knob("early_stop", int, 0, low=0),
    Knob("bidirectional", bool, False, help="the ablation: a block's masks attend to each other (layout.py)"),
)


def fluid_spec(cfg: DictConfig) -> dict:
    """Its cache identity: the data, its settings and the backbone it adapts."""
    return {"data": section(cfg, "data"), FLUID: without_off(substrate_spec(cfg, FLUID), "bidirectional"),
            "ar": substrate_spec(cfg, "ar")}


def build_fluid(cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001
    a = cfg.substrate.ar
    return FluidLM(dm.vocab_size, dm.seq_len, width=a.width, depth=a.depth, heads=a.heads,
                   bidirectional=bool(cfg.substrate[FLUID].bidirectional))


def train_fluid(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    s = cfg.substrate[FLUID]
    model.load_state_dict(FluidLM.adapted_from(get("ar"), model.bidirectional).state_dict())
    module = FluidModule(model, k_max=s.k_max, share=s.share, noise=s.noise, lr=s.lr, max_steps=s.steps)
    info = fit(module, RandomBatches(dm.train, batch_size=s.batch_size, seed=s.seed), max_steps=s.steps, seed=s.seed,
               val_batches=held_out(dm.val, batch_size=s.batch_size), early_stop=int(s.early_stop))
    model.eval()
    return {**info, **measure_fluid(model, cfg, dm)}


@torch.no_grad()
def ahead_losses(net: FluidLM, windows: torch.Tensor, k_max: int, batch_size: int = 64) -> list[float]:
    """Mean cross-entropy (nats) of the masks at offsets 1..k_max, every real slot followed by
    k_max masks (cut at the window's end), nothing restored: how well a pass sees ahead."""
    layout = build_layout([k_max] * windows.shape[1], net.bidirectional)
    offset = (layout.position - layout.column)[layout.is_mask]
    total, count = torch.zeros(k_max, dtype=torch.float64), torch.zeros(k_max, dtype=torch.float64)
    device = net.head.weight.device
    for chunk in windows.long().split(batch_size):
        inputs, labels = expand(chunk, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=net.vocab_size,
                                restore=False)
        logits = net(inputs.to(device), layout)[:, layout.is_mask]
        ce = F.cross_entropy(logits.flatten(0, 1).double(), labels[:, layout.is_mask].to(device).flatten(),
                             reduction="none").view(len(chunk), -1).cpu()
        total.index_add_(0, offset - 1, ce.sum(0))
        count.index_add_(0, offset - 1, torch.full((len(offset),), float(len(chunk)), dtype=torch.float64))
    return [float(t / c) if c > 0 else math.nan for t, c in zip(total, count, strict=True)]


def measure_fluid(model: nn.Module, cfg: DictConfig, dm) -> dict:  # noqa: ANN001
    """Exact autoregressive bits/char of the adapted model, and its look-ahead losses per offset."""
    was = model.training
    model.eval()
    try:
        return {"val_bits_per_char": bits_per_char(model, dm.val),
                "val_ahead_nats": ahead_losses(model, dm.val, int(cfg.substrate[FLUID].k_max)),
                "n_params": sum(p.numel() for p in model.parameters())}
    finally:
        model.train(was)


# --- stage II: the elastic-horizon head (lightning_modules/fluid/horizon.py) -------------------
HEAD = "fluid_head"
HEAD_KNOBS = (
    Knob("tau_quantile", float, 0.75, low=0.0, high=1.0, high_open=True,
         help="tau: this quantile of the adapted model's per-character losses (the paper's 2.8 nats is for subwords)"),
    Knob("sigma", float, 1.5, low=0.01, help="width of the Gaussian soft target around K*, in classes"),
    Knob("windows", int, 2048, low=1, help="training windows whose triggers are the head's data"),
    Knob("steps", int, 3000, low=1), Knob("batch_size", int, 256, low=2), Knob("lr", float, 1.0e-3, low=0.0),
    Knob("seed", int, 0, low=0),
)


def head_spec(cfg: DictConfig) -> dict:
    return {**fluid_spec(cfg), HEAD: substrate_spec(cfg, HEAD)}


def build_head(cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001, ARG001
    return KHead(int(cfg.substrate.ar.width), int(cfg.substrate[FLUID].k_max))


def train_head(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    s = cfg.substrate[HEAD]
    net = get(FLUID).eval()
    windows = dm.train[torch.randperm(len(dm.train), generator=torch.Generator().manual_seed(int(s.seed)))[: s.windows]]
    hidden, losses, ar_losses = trigger_features(net, windows, model.k_max)
    model.tau.fill_(float(torch.quantile(ar_losses.double(), float(s.tau_quantile))))
    k_star = oracle_horizon(losses, float(model.tau))
    module = HeadModule(model, sigma=s.sigma, lr=s.lr, max_steps=s.steps)
    info = fit(module, RandomBatches(hidden, k_star, batch_size=s.batch_size, seed=int(s.seed)), max_steps=s.steps,
               seed=int(s.seed))
    model.eval()
    return {**info, **measure_head(model, cfg, dm, get)}


def measure_head(model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001, ARG001
    """On held-out windows: the shares of K* and of the head's horizons (a head that predicts a
    constant shows as one bar), how often it hits K*, and its mean distance from it."""
    hidden, losses, _ = trigger_features(get(FLUID).eval(), dm.val, model.k_max)
    k_star = oracle_horizon(losses, float(model.tau))
    with torch.no_grad():
        predicted = model.horizon(hidden.to(model.tau.device)).cpu()
    return {"tau_nats": float(model.tau), "k_star_shares": histogram(k_star, model.k_max),
            "head_shares": histogram(predicted, model.k_max), "head_exact": float((predicted == k_star).double().mean()),
            "head_mean_abs_error": float((predicted - k_star).abs().double().mean()),
            "n_params": sum(p.numel() for p in model.parameters())}
