"""The images track: digits (bundled) or local MNIST / CIFAR-10 / folders; FID and KID on the
features of a small classifier trained on the training split (no download); floor = real
training images, as many as a trial generates, against the held-out reference split."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import Knob, register_model
from lightning_modules.core.roles import section
from lightning_modules.data.images import IMAGE_DATASETS, ImageDataModule
from lightning_modules.tracks.base import MetricInfo, Reference, Track, booted, evaluator_field

IMAGE_METRICS = ("fid", "kid")


class ImagesTrack(Track):
    name = "images"
    kind = "image"
    datasets = IMAGE_DATASETS
    evaluators = ("feature_net",)
    data_knobs = (Knob("n_ref", int, 600, low=2), Knob("n_val", int, 197, low=2), Knob("seed", int, 0, low=0),
                  Knob("root", str, None, nullable=True), Knob("size", int, 32, low=1),
                  Knob("limit", int, None, low=1, nullable=True))

    def metric_info(self, name: str) -> MetricInfo | None:
        return MetricInfo(name.upper(), evaluator=True) if name in IMAGE_METRICS else None

    def metric_names(self) -> str:
        return ", ".join(IMAGE_METRICS)

    def validate(self, cfg: DictConfig) -> None:
        super().validate(cfg)
        if cfg.data.name != "digits" and not cfg.data.root:
            raise ConfigError("data.root", cfg.data.root, f"the folder holding the {cfg.data.name} files "
                              "(nothing is downloaded)")

    def data_module(self, cfg: DictConfig) -> ImageDataModule:
        d = cfg.data
        return ImageDataModule(d.name, n_val=d.n_val, n_ref=d.n_ref, seed=d.seed, root=d.root, size=d.size,
                               limit=d.limit)

    def identity(self, cfg: DictConfig, models: Any) -> dict:
        return {"feature_net": self.features_info(cfg, models)["weights_hash"]}

    def features_info(self, cfg: DictConfig, models: Any) -> dict:
        """The feature network every image metric of this config used, in display order."""
        net = models.get("feature_net", cfg)
        key = models.key("feature_net", cfg)
        info = models.train_info.get(key, {})
        return {"name": f"{cfg.data.name}-classifier", "test_accuracy": info.get("test_accuracy"),
                "weights_hash": info.get("weights_hash"), "feature_dim": int(net.feature_dim),
                "n_reference": int(len(models.data(cfg).ref)), "key": key}

    def evaluator_record(self, cfg: DictConfig, models: Any) -> dict:
        return evaluator_field("feature net", self.features_info(cfg, models), suffix=" features")

    def reference(self, cfg: DictConfig, models: Any) -> Reference:
        """The whole held-out reference split; floor = real training images (as many as the
        trial generates) against it, i.e. what a sampler reproducing the data would score."""
        from lightning_modules.metrics.fid import image_features, image_reference_floor

        net = models.get("feature_net", cfg)
        dm = models.data(cfg)
        ident = self.identity(cfg, models)
        cache_key = self.reference_features_key(cfg, ident, models.cache)
        if models.cache.has(cache_key):
            state, _ = models.cache.load(cache_key)
            ref_feats = state["features"]
        else:
            ref_feats = image_features(net, dm.ref)
            models.cache.save(cache_key, {"features": ref_feats}, {"n": len(dm.ref), **ident})
        real = dm.train[: min(int(cfg.eval.n_samples), len(dm.train))]
        floor = image_reference_floor(image_features(net, real), ref_feats)
        return Reference(dm.ref, {m: floor[m] for m in cfg.eval.metrics}, ref_feats)

    @staticmethod
    def reference_features_key(cfg: DictConfig, identity: dict, cache: Any) -> str:
        """Cache key of the reference split's features ({"data": {"data": ...}}: the key they
        were cached under before tracks existed)."""
        return cache.key("reference_features", {"data": {"data": section(cfg, "data")}, **identity})

    def quality(self, cfg: DictConfig, models: Any, samples: torch.Tensor, ref: Reference) -> dict:
        from lightning_modules.metrics.fid import image_quality

        net = models.get("feature_net", cfg)
        return image_quality(samples, ref.features, net, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot,
                             seed=cfg.seed, replicates=True, boot=booted(cfg))

    def wandb_samples(self, wandb: Any, record: dict, batch: Any, cfg: DictConfig, models: Any) -> Any:
        rows = [batch.samples[:8]] if batch.drafts is None else [batch.drafts[:8], batch.samples[:8]]
        caption = "drafts (top), samples (bottom)" if batch.drafts is not None else "samples"
        return wandb.Image(image_grid(rows), caption=caption)


def image_grid(rows: list) -> Any:
    """Rows of [k, C, H, W] images in [-1, 1] as one uint8 HxWxC array (1-pixel gaps)."""
    import numpy as np

    arrays = [np.asarray(r.float().clamp(-1, 1)) for r in rows]
    k = max(len(a) for a in arrays)
    c, h, w = arrays[0].shape[1:]
    grid = np.ones((len(arrays) * (h + 1), k * (w + 1), c), dtype=np.float32)
    for i, a in enumerate(arrays):
        for j, img in enumerate(a):
            grid[i * (h + 1): i * (h + 1) + h, j * (w + 1): j * (w + 1) + w] = (img.transpose(1, 2, 0) + 1) / 2
    grid = (grid * 255).round().astype(np.uint8)
    return grid[..., 0] if c == 1 else grid


# --- the evaluator model: the FID feature classifier ----------------------------------------


def _feature_build(cfg: DictConfig, dm: ImageDataModule) -> torch.nn.Module:
    from lightning_modules.metrics.feature_net import FeatureClassifier

    f, shape = cfg.eval.feature_net, dm.shape
    n_classes = int(max(int(dm.train_labels.max()), int(dm.val_labels.max()))) + 1
    return FeatureClassifier(in_channels=shape[0], image_size=shape[-1], n_classes=n_classes, width=f.width,
                             feature_dim=f.feature_dim)


def _feature_train(model: torch.nn.Module, cfg: DictConfig, dm: ImageDataModule, get: Any) -> dict:
    from lightning_modules.metrics.feature_net import train_feature_net, weights_hash

    f = cfg.eval.feature_net
    net, info = train_feature_net(dm.train, dm.train_labels, dm.val, dm.val_labels, steps=f.steps,
                                  batch_size=f.batch_size, lr=f.lr, width=f.width, feature_dim=f.feature_dim,
                                  seed=f.seed)
    model.load_state_dict(net.state_dict())
    info.update(weights_hash=weights_hash(model), test_split="val")
    return info


register_model(
    "feature_net", spec=lambda cfg: {"data": section(cfg, "data"),
                                     "feature_net": OmegaConf.to_container(cfg.eval.feature_net, resolve=True)},
    build=_feature_build, train=_feature_train, seed=lambda cfg: int(cfg.eval.feature_net.seed),
    effort=lambda cfg: float(cfg.eval.feature_net.steps),
)
