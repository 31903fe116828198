"""The flow-matching family (`refiner.family=fm`): noise-start models and warm-start
refiners for continuous data, on an MLP (vectors) or a U-Net (images)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.continuous.flow import FlowMatching
from lightning_modules.continuous.pairing import PAIRINGS, nearest
from lightning_modules.continuous.paths import STARTS
from lightning_modules.core import seeding
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import CONTINUOUS, FamilySpec, Knob, register_family
from lightning_modules.core.roles import POOL_SEED, section, without_off
from lightning_modules.core.training import fit
from lightning_modules.data.toy import FixedBatches, RandomBatches
from lightning_modules.nets.mlp import VelocityMLP


def fm_spec(role: str, cfg: DictConfig) -> dict:
    """What a noise model / refiner depends on (and nothing else): its cache identity."""
    data, ref = section(cfg, "data"), section(cfg, "refiner")
    ref["train"] = without_off(ref["train"], "early_stop")
    noise_train = {k: v for k, v in ref["train"].items() if k != "n_drafts"}  # no drafts involved
    if role == "noise_model":
        return {"data": data, "net": ref["net"], "train": noise_train, "pairing": ref["pairing"]}
    warm = {"data": data, "drafter": section(cfg, "drafter"), "net": ref["net"], "train": ref["train"],
            "pairing": ref["pairing"], "start": ref["start"], "t0_conditioned": ref["t0_conditioned"]}
    warm["t0"] = list(ref["t0_range"]) if ref["t0_conditioned"] else ref["t0"]
    warm["draws"] = seeding.DRAWS  # its training drafts come from the per-sample streams
    return warm


def build_velocity(cfg: DictConfig, shape: tuple[int, ...], *, conditioned: bool = False) -> nn.Module:
    """The velocity net of the configured architecture (mlp for vectors, unet for images)."""
    net = cfg.refiner.net
    if net.arch == "unet":
        from lightning_modules.nets.unet import VelocityUNet

        return VelocityUNet(shape=shape, base=net.base, levels=net.levels, time_freqs=net.time_freqs,
                            t0_conditioned=conditioned)
    if net.arch == "mlp":
        return VelocityMLP(dim=shape[0], hidden=net.hidden, depth=net.depth, time_freqs=net.time_freqs,
                           t0_conditioned=conditioned)
    raise ValueError(f"refiner.net.arch={net.arch!r}: the FM family builds mlp or unet")


def fm_check(refiner: dict, needs: tuple[str, ...]) -> None:
    """The noise-start model pairs noise with data: `nearest` (draft to its nearest image) has no meaning there."""
    if "noise_model" in needs and refiner["pairing"] == "nearest":
        raise ConfigError("refiner.pairing", refiner["pairing"], "independent or minibatch_ot for the noise-start model")


def fm_build(role: str, cfg: DictConfig, dm) -> nn.Module:  # noqa: ANN001
    return build_velocity(cfg, dm.shape, conditioned=role == "refiner" and cfg.refiner.t0_conditioned)


def fm_train(role: str, model: nn.Module, cfg: DictConfig, dm, get) -> dict:  # noqa: ANN001
    r = cfg.refiner
    val_seed = r.train.seed + 1  # the held-out split's batches: fixed, apart from training's
    if role == "noise_model":
        batches = RandomBatches(dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
        val = RandomBatches(dm.val, batch_size=r.train.batch_size, seed=val_seed)
        module = FlowMatching(model, mode="noise", pairing=r.pairing, lr=r.train.lr,
                              ema_decay=r.train.ema_decay, max_steps=r.train.steps)
    else:
        drafter = get("drafter")
        with torch.inference_mode():
            n_drafts = r.train.n_drafts or dm.train.shape[0]
            pool = drafter.sample(n_drafts, seed=POOL_SEED + r.train.seed).cpu().clone()  # data, like dm.train
        if r.pairing == "nearest":
            batches = RandomBatches(pool, nearest(pool, dm.train), batch_size=r.train.batch_size, seed=r.train.seed)
            val_pool = pool[:len(dm.val)]
            val = RandomBatches(val_pool, nearest(val_pool, dm.val), batch_size=r.train.batch_size, seed=val_seed)
        else:
            batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size, seed=r.train.seed, aligned=False)
            val = RandomBatches(pool, dm.val, batch_size=r.train.batch_size, seed=val_seed, aligned=False)
        module = FlowMatching(model, mode="warm", start=r.start, pairing=r.pairing, t0=r.t0,
                              t0_range=tuple(r.t0_range), lr=r.train.lr,
                              ema_decay=r.train.ema_decay, max_steps=r.train.steps)
    info = fit(module, batches, max_steps=r.train.steps, seed=r.train.seed, val_batches=FixedBatches(val),
               early_stop=int(r.train.get("early_stop") or 0))
    # Sampling uses the EMA weights: copy them into the returned (cached) net.
    model.load_state_dict(module.sampling_net(use_ema=True).state_dict())
    info.update(ema_decay=r.train.ema_decay, batch_size=r.train.batch_size, lr=r.train.lr)
    return info


_FREQS = Knob("time_freqs", int, 16, low=1)
register_family(FamilySpec(
    "fm", kinds=CONTINUOUS, spec=fm_spec, build=fm_build, train=fm_train, pairings=PAIRINGS, starts=STARTS,
    nets={"mlp": ("vector",), "unet": ("image",)}, check=fm_check,
    net_knobs={"mlp": (Knob("hidden", int, 256, low=1), Knob("depth", int, 3, low=1), _FREQS),
               "unet": (Knob("base", int, 16, low=1), Knob("levels", int, 2, low=1), _FREQS)},
))
