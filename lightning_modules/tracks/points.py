"""The points track: generated 2-D toy sets, sample-based distances (hist_tv, sw2, energy)
against a held-out reference draw, floor = the same metric between two reference draws."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.registry import Knob
from lightning_modules.data.toy import TOY_DATASETS, ToyDataModule
from lightning_modules.metrics import METRICS, quality, reference_floor
from lightning_modules.tracks.base import MetricInfo, Reference, Track, booted

LABELS = {"sw2": "sliced W2", "energy": "energy distance", "hist_tv": "histogram TV"}


def metric_options(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.eval.metric_options, resolve=True) or {}


class PointsTrack(Track):
    name = "points"
    kind = "vector"
    datasets = tuple(sorted(TOY_DATASETS))
    data_knobs = (Knob("n_train", int, 20000, low=2), Knob("n_val", int, 2000, low=1), Knob("seed", int, 0, low=0))

    def metric_info(self, name: str) -> MetricInfo | None:
        return MetricInfo(LABELS.get(name, name)) if name in METRICS else None

    def metric_names(self) -> str:
        return ", ".join(sorted(METRICS))

    def data_module(self, cfg: DictConfig) -> ToyDataModule:
        d = cfg.data
        return ToyDataModule(d.name, n_train=d.n_train, n_val=d.n_val, seed=d.seed)

    def reference(self, cfg: DictConfig, models: Any) -> Reference:
        e = cfg.eval
        dm = models.data(cfg)
        ref = dm.reference(e.n_samples, e.reference_seed)
        other = dm.reference(e.n_samples, e.reference_seed + 1)
        floor = reference_floor(other, ref, metrics=list(e.metrics), seed=cfg.seed, options=metric_options(cfg))
        return Reference(ref, floor)

    def quality(self, cfg: DictConfig, models: Any, samples: torch.Tensor, ref: Reference) -> dict:
        return quality(samples, ref.samples, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot, seed=cfg.seed,
                       options=metric_options(cfg), replicates=True, boot=booted(cfg))

    def wandb_samples(self, wandb: Any, record: dict, batch: Any, cfg: DictConfig, models: Any) -> Any:
        table = wandb.Table(columns=["x", "y"], data=batch.samples[:1000, :2].tolist())
        return wandb.plot.scatter(table, "x", "y", title=f"{record['arm']} #{record['trial']}")
