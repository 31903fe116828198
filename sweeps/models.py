"""Trains, or loads from the cache, the models a trial needs: drafter, noise-start model, refiner.

Each model's cache key is the hash of exactly the config that produced it, so e.g. changing
method.steps reuses every model, while changing refiner.pairing retrains only the refiners.
"""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.data.toy import RandomBatches, ToyDataModule
from lightning_modules.drafters import GMMDrafter, VAEDrafter
from lightning_modules.flow import FlowMatching
from lightning_modules.nets import VelocityMLP
from lightning_modules.pairing import nearest
from lightning_modules.training import fit
from sweeps.cache import ArtifactCache
from sweeps.config import to_dict

# Drafts for refiner training come from their own seed stream, never the evaluation seed.
POOL_SEED = 1_000_003


def data_module(cfg: DictConfig) -> ToyDataModule:
    d = cfg.data
    return ToyDataModule(d.name, n_train=d.n_train, n_val=d.n_val, seed=d.seed)


def specs(cfg: DictConfig) -> dict[str, dict]:
    """The config each model depends on (and nothing else): its cache identity."""
    c = to_dict(cfg)
    data, drafter, ref = c["data"], c["drafter"], c["refiner"]
    noise = {"data": data, "net": ref["net"], "train": ref["train"], "pairing": ref["pairing"]}
    warm = {"data": data, "drafter": drafter, "net": ref["net"], "train": ref["train"],
            "pairing": ref["pairing"], "start": ref["start"], "t0_conditioned": ref["t0_conditioned"]}
    warm["t0"] = list(ref["t0_range"]) if ref["t0_conditioned"] else ref["t0"]
    return {"drafter": {"data": data, "drafter": drafter}, "noise_model": noise, "refiner": warm}


class ModelStore:
    """In-process memo over the on-disk cache; `get(name, cfg)` returns an eval-mode model."""

    def __init__(self, cache: ArtifactCache, log=print) -> None:  # noqa: ANN001
        self.cache, self.log = cache, log
        self._memo: dict[str, nn.Module] = {}
        self._data: dict[str, ToyDataModule] = {}
        self.train_info: dict[str, dict] = {}

    def key(self, name: str, cfg: DictConfig) -> str:
        return ArtifactCache.key(name, specs(cfg)[name])

    def get(self, name: str, cfg: DictConfig) -> nn.Module:
        key = self.key(name, cfg)
        if key not in self._memo:
            # Initial weights come from the model's own training seed, not from whatever the
            # global RNG holds after earlier work, so a model is the same wherever it is trained.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed(name, cfg))
                model = self._build(name, cfg)
            if self.cache.has(key):
                state, meta = self.cache.load(key)
                model.load_state_dict(state)
                self.train_info[key] = meta.get("train", {})
            else:
                self.log(f"  training {name} [{key}] ...")
                info = self._train(name, model, cfg)
                self.log(f"  trained {name} [{key}] in {info.get('seconds', 0):.1f} s"
                         + (f", final loss {info['final_loss']:.4g}" if info.get("final_loss") is not None else ""))
                self.cache.save(key, model.state_dict(), {"spec": specs(cfg)[name], "train": info})
                self.train_info[key] = info
            model.eval()
            self._memo[key] = model
        return self._memo[key]

    def data(self, cfg: DictConfig) -> ToyDataModule:
        from sweeps.config import config_hash

        key = config_hash(to_dict(cfg, "data"))
        if key not in self._data:
            self._data[key] = data_module(cfg)
        return self._data[key]

    @staticmethod
    def _seed(name: str, cfg: DictConfig) -> int:
        return int(cfg.drafter.seed if name == "drafter" else cfg.refiner.train.seed)

    def _build(self, name: str, cfg: DictConfig) -> nn.Module:
        if name == "drafter":
            d = cfg.drafter
            if d.name == "gmm":
                k = d.n_components
                return GMMDrafter(torch.ones(k) / k, torch.zeros(k, 2), torch.eye(2).repeat(k, 1, 1))
            return VAEDrafter(dim=2, latent=d.latent, hidden=d.hidden, lr=d.lr)
        net = cfg.refiner.net
        conditioned = name == "refiner" and cfg.refiner.t0_conditioned
        velocity = VelocityMLP(dim=2, hidden=net.hidden, depth=net.depth, time_freqs=net.time_freqs,
                               t0_conditioned=conditioned)
        return velocity

    def _train(self, name: str, model: nn.Module, cfg: DictConfig) -> dict:
        dm = self.data(cfg)
        if name == "drafter":
            return self._train_drafter(model, cfg, dm)
        r = cfg.refiner
        if name == "noise_model":
            batches = RandomBatches(dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
            module = FlowMatching(model, mode="noise", pairing=r.pairing, lr=r.train.lr,
                                  ema_decay=r.train.ema_decay, max_steps=r.train.steps)
        else:
            drafter = self.get("drafter", cfg)
            with torch.inference_mode():
                pool = drafter.sample(dm.train.shape[0], seed=POOL_SEED + r.train.seed).clone()
            if r.pairing == "nearest":
                batches = RandomBatches(pool, nearest(pool, dm.train), batch_size=r.train.batch_size,
                                        seed=r.train.seed)
            else:
                batches = RandomBatches(pool, dm.train, batch_size=r.train.batch_size,
                                        seed=r.train.seed, aligned=False)
            module = FlowMatching(model, mode="warm", start=r.start, pairing=r.pairing, t0=r.t0,
                                  t0_range=tuple(r.t0_range), lr=r.train.lr,
                                  ema_decay=r.train.ema_decay, max_steps=r.train.steps)
        info = fit(module, batches, max_steps=r.train.steps, seed=r.train.seed)
        # Sampling uses the EMA weights: copy them into the returned (cached) net.
        model.load_state_dict(module.velocity_net(use_ema=True).state_dict())
        info.update(ema_decay=r.train.ema_decay, batch_size=r.train.batch_size, lr=r.train.lr)
        return info

    def _train_drafter(self, model: nn.Module, cfg: DictConfig, dm: ToyDataModule) -> dict:
        d = cfg.drafter
        start = time.perf_counter()
        if d.name == "gmm":
            fitted = GMMDrafter.fit(dm.train, d.n_components, seed=d.seed)
            model.load_state_dict(fitted.state_dict())
            return {"seconds": time.perf_counter() - start, "final_loss": None, "method": "EM"}
        batches = RandomBatches(dm.train, batch_size=d.batch_size, seed=d.seed)
        return fit(model, batches, max_steps=d.steps, seed=d.seed)
