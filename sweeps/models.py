"""Trains, or loads from the cache, the models a trial needs: drafter, noise-start model,
refiner, and the evaluation net (images: the FID feature network; text: the evaluator LM).

Each model's cache key is the hash of exactly the config that produced it, so e.g. changing
method.steps reuses every model, while changing refiner.pairing retrains only the refiners.
"""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules.data.images import IMAGE_DATASETS, ImageDataModule
from lightning_modules.data.text import TEXT_DATASETS, TextDataModule
from lightning_modules.data.toy import RandomBatches, ToyDataModule
from lightning_modules.continuous.flow import FlowMatching
from lightning_modules.nets.mlp import VelocityMLP
from lightning_modules.continuous.pairing import nearest
from lightning_modules.core.training import fit
from sweeps.cache import ArtifactCache
from sweeps.config import to_dict

# Drafts for refiner training come from their own seed stream, never the evaluation seed.
POOL_SEED = 1_000_003


def data_kind(cfg: DictConfig) -> str:
    """'image' for the image sets, 'text' for the text sets, else 'toy' (2-D points)."""
    if cfg.data.name in IMAGE_DATASETS:
        return "image"
    return "text" if cfg.data.name in TEXT_DATASETS else "toy"


def eval_models(cfg: DictConfig) -> tuple[str, ...]:
    """Trained nets the metrics of this data kind need."""
    return {"image": ("feature_net",), "text": ("text_lm",)}.get(data_kind(cfg), ())


def data_module(cfg: DictConfig) -> ToyDataModule | ImageDataModule | TextDataModule:
    d = cfg.data
    if data_kind(cfg) == "text":
        return TextDataModule(d.name, seq_len=d.seq_len, seed=d.seed, n_val_docs=d.n_val_docs,
                              n_test_docs=d.n_test_docs, root=d.root, field=d.field)
    if data_kind(cfg) == "image":
        return ImageDataModule(d.name, n_val=d.n_val, n_ref=d.n_ref, seed=d.seed, root=d.root, size=d.size,
                               limit=d.limit)
    return ToyDataModule(d.name, n_train=d.n_train, n_val=d.n_val, seed=d.seed)


def specs(cfg: DictConfig) -> dict[str, dict]:
    """The config each model depends on (and nothing else): its cache identity."""
    c = to_dict(cfg)
    data, drafter, ref = c["data"], c["drafter"], c["refiner"]
    noise_train = {k: v for k, v in ref["train"].items() if k != "n_drafts"}  # no drafts involved
    noise = {"data": data, "net": ref["net"], "train": noise_train, "pairing": ref["pairing"]}
    warm_train = ref["train"]
    if data_kind(cfg) == "text":  # the masked model pairs nothing; teacher-forced pools ignore n_drafts
        noise.pop("pairing")
        if ref["pairing"] == "teacher_forced":
            warm_train = noise_train
    warm = {"data": data, "drafter": drafter, "net": ref["net"], "train": warm_train,
            "pairing": ref["pairing"], "start": ref["start"], "t0_conditioned": ref["t0_conditioned"]}
    warm["t0"] = list(ref["t0_range"]) if ref["t0_conditioned"] else ref["t0"]
    features = {"data": data, "feature_net": c["eval"]["feature_net"]}
    text_lm = {"data": data, "text_lm": {k: v for k, v in c["eval"]["text_lm"].items() if k != "hub"}}
    return {"drafter": {"data": data, "drafter": drafter}, "noise_model": noise, "refiner": warm,
            "feature_net": features, "text_lm": text_lm}


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

    def data(self, cfg: DictConfig) -> ToyDataModule | ImageDataModule:
        from sweeps.config import config_hash

        key = config_hash(to_dict(cfg, "data"))
        if key not in self._data:
            self._data[key] = data_module(cfg)
        return self._data[key]

    def unit_net(self, cfg: DictConfig) -> nn.Module:
        """A fresh plain (not t0-conditioned) refiner net: the unit of FLOPs per evaluation."""
        return self._build("noise_model", cfg)

    @staticmethod
    def _seed(name: str, cfg: DictConfig) -> int:
        if name in ("feature_net", "text_lm"):
            return int(cfg.eval[name].seed)
        return int(cfg.drafter.seed if name == "drafter" else cfg.refiner.train.seed)

    def _build(self, name: str, cfg: DictConfig) -> nn.Module:
        if data_kind(cfg) == "text":
            from sweeps import text_models

            dm = self.data(cfg)
            if name == "drafter":
                return text_models.build_text_drafter(cfg.drafter, dm)
            if name == "text_lm":
                return text_models.build_text_lm(cfg, dm)
            return text_models.build_denoiser(cfg, dm, conditioned=name == "refiner" and cfg.refiner.t0_conditioned)
        shape = self.data(cfg).shape
        if name == "drafter":
            return build_drafter(cfg.drafter, shape)
        if name == "feature_net":
            from lightning_modules.metrics.feature_net import FeatureClassifier

            dm = self.data(cfg)
            n_classes = int(max(int(dm.train_labels.max()), int(dm.val_labels.max()))) + 1
            return FeatureClassifier(**feature_net_args(cfg, shape, n_classes))
        return build_velocity(cfg, shape, conditioned=name == "refiner" and cfg.refiner.t0_conditioned)

    def _train(self, name: str, model: nn.Module, cfg: DictConfig) -> dict:
        dm = self.data(cfg)
        if data_kind(cfg) == "text":
            from sweeps import text_models

            if name == "drafter":
                return text_models.train_text_drafter(model, cfg.drafter, dm)
            if name == "text_lm":
                return text_models.train_text_lm(model, cfg, dm)
            drafter = self.get("drafter", cfg) if name == "refiner" else None
            return text_models.train_denoiser(name, model, cfg, dm, drafter, POOL_SEED + cfg.refiner.train.seed)
        if name == "drafter":
            return self._train_drafter(model, cfg, dm)
        if name == "feature_net":
            return self._train_feature_net(model, cfg, dm)
        r = cfg.refiner
        if name == "noise_model":
            batches = RandomBatches(dm.train, batch_size=r.train.batch_size, seed=r.train.seed)
            module = FlowMatching(model, mode="noise", pairing=r.pairing, lr=r.train.lr,
                                  ema_decay=r.train.ema_decay, max_steps=r.train.steps)
        else:
            drafter = self.get("drafter", cfg)
            with torch.inference_mode():
                n_drafts = r.train.n_drafts or dm.train.shape[0]
                pool = drafter.sample(n_drafts, seed=POOL_SEED + r.train.seed).clone()
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

    def _train_drafter(self, model: nn.Module, cfg: DictConfig, dm: ToyDataModule | ImageDataModule) -> dict:
        d = cfg.drafter
        start = time.perf_counter()
        if d.name in ("gmm", "ppca"):
            if d.name == "gmm":
                from lightning_modules.drafters import GMMDrafter

                fitted = GMMDrafter.fit(dm.train, d.n_components, seed=d.seed)
            else:
                from lightning_modules.drafters import PPCADrafter

                fitted = PPCADrafter.fit(dm.train, d.latent)
            model.load_state_dict(fitted.state_dict())
            return {"seconds": time.perf_counter() - start, "final_loss": None,
                    "method": "EM" if d.name == "gmm" else "closed form"}
        batches = RandomBatches(dm.train, batch_size=d.batch_size, seed=d.seed)
        return fit(model, batches, max_steps=d.steps, seed=d.seed)

    def _train_feature_net(self, model: nn.Module, cfg: DictConfig, dm: ImageDataModule) -> dict:
        from lightning_modules.metrics.feature_net import train_feature_net, weights_hash

        f = cfg.eval.feature_net
        net, info = train_feature_net(dm.train, dm.train_labels, dm.val, dm.val_labels, steps=f.steps,
                                      batch_size=f.batch_size, lr=f.lr, width=f.width,
                                      feature_dim=f.feature_dim, seed=f.seed)
        model.load_state_dict(net.state_dict())
        info.update(weights_hash=weights_hash(model), test_split="val")
        return info


def build_drafter(d: DictConfig, shape: tuple[int, ...]) -> nn.Module:
    """An untrained drafter of the configured kind and size (weights come from fit or the cache)."""
    from lightning_modules import drafters

    if d.name == "gmm":
        k, dim = d.n_components, shape[0]
        return drafters.GMMDrafter(torch.ones(k) / k, torch.zeros(k, dim), torch.eye(dim).repeat(k, 1, 1))
    if d.name == "vae":
        return drafters.VAEDrafter(dim=shape[0], latent=d.latent, hidden=d.hidden, lr=d.lr)
    if d.name == "ppca":
        return drafters.PPCADrafter(shape=shape, latent=d.latent)
    if d.name == "conv_vae":
        return drafters.ConvVAEDrafter(shape=shape, latent=d.latent, width=d.width, lr=d.lr, beta=d.beta)
    if d.name == "gan":
        return drafters.GANDrafter(shape=shape, latent=d.latent, width=d.width, lr=d.lr, arch=d.arch)
    raise ValueError(f"unknown drafter '{d.name}'")


def build_velocity(cfg: DictConfig, shape: tuple[int, ...], *, conditioned: bool = False) -> nn.Module:
    """The velocity net of the configured architecture (mlp for points, unet for images)."""
    net = cfg.refiner.net
    if net.arch == "unet":
        from lightning_modules.nets.unet import VelocityUNet

        return VelocityUNet(shape=shape, base=net.base, levels=net.levels, time_freqs=net.time_freqs,
                            t0_conditioned=conditioned)
    return VelocityMLP(dim=shape[0], hidden=net.hidden, depth=net.depth, time_freqs=net.time_freqs,
                       t0_conditioned=conditioned)


def feature_net_args(cfg: DictConfig, shape: tuple[int, ...], n_classes: int) -> dict:
    f = cfg.eval.feature_net
    return {"in_channels": shape[0], "image_size": shape[-1], "n_classes": n_classes, "width": f.width,
            "feature_dim": f.feature_dim}
