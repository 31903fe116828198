"""Trains, or loads from the cache, the models a trial needs (by role: drafter, noise_model,
refiner, a track's evaluator nets), as the registry declares them.

Each model's cache key is the hash of exactly the config that produced it (`ModelSpec.spec`),
so e.g. changing method.steps reuses every model, while changing refiner.pairing retrains
only the refiners.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from lightning_modules import shipped
from lightning_modules.core.checkpoints import checkpointing
from lightning_modules.core.device import resolve as resolve_device
from lightning_modules.core.device import training_on
from lightning_modules.core.progress import labelled
from lightning_modules.core.registry import MODELS, TRACKS, load_plugins
from sweeps import host_load
from sweeps.cache import ArtifactCache, model_key
from sweeps.config import config_hash, to_dict


def track_of(cfg: DictConfig):  # noqa: ANN201
    """The Track object the config names (`track` key; plugins loaded first)."""
    load_plugins(cfg.get("plugin"))
    return TRACKS.get(str(cfg.track), key="track")


class ModelStore:
    """In-process memo over the on-disk cache; `get(role, cfg)` returns an eval-mode model."""

    def __init__(self, cache: ArtifactCache, log=print) -> None:  # noqa: ANN001
        self.cache, self.log = cache, log
        self._memo: dict[tuple[str, torch.device], nn.Module] = {}
        self._data: dict[str, object] = {}
        self.train_info: dict[str, dict] = {}

    def key(self, role: str, cfg: DictConfig) -> str:
        return model_key(role, cfg)

    def has(self, key: str) -> bool:
        """Shipped with the package or trained into the cache: nothing to train."""
        return shipped.find(key) is not None or self.cache.has(key)

    def curve_text(self, key: str) -> str | None:
        """The training curve (CSV text) of a shipped or cached model, where it logged one."""
        source = shipped.find(key)
        if source:
            return shipped.load(source)[1].get("curve")
        path = self.cache.curve(key)
        return path.read_text() if path else None

    def get(self, role: str, cfg: DictConfig) -> nn.Module:
        """The model, trained on and moved to the trial's device."""
        key = self.key(role, cfg)
        where = resolve_device(cfg.get("device", "cpu"))
        if (key, where) not in self._memo:
            spec = MODELS.get(role)
            # Initial weights come from the model's own training seed, not from whatever the
            # global RNG holds after earlier work, so a model is the same wherever it is trained.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed(cfg))
                model = spec.build(cfg, self.data(cfg))
            source = shipped.find(key)  # the package's weights win over any local training
            if source or self.cache.has(key):
                state, meta = shipped.load(source) if source else self.cache.load(key)
                model.load_state_dict(state)
                self.train_info[key] = meta.get("train", {})
            else:
                self.log(f"  training {role} [{key}] ...")
                # Checkpoints live beside the (not yet) cached model: model.pt alone marks it done.
                every = int(cfg.get("train_checkpoint_every", 0))
                with host_load.busy("training"), training_on(where), labelled(f"{role} {key.split('-')[-1][:8]}"), \
                        checkpointing(self.cache.path(key) / "checkpoints" if every else None, every):
                    info = spec.train(model, cfg, self.data(cfg), lambda other: self.get(other, cfg))
                self.log(f"  trained {role} [{key}] in {info.get('seconds', 0):.1f} s"
                         + (f", final loss {info['final_loss']:.4g}" if info.get("final_loss") is not None else ""))
                curve = info.pop("curve", None)  # the training's logged losses: a file beside the model
                self.cache.save(key, {k: v.cpu() for k, v in model.state_dict().items()},
                                {"spec": spec.spec(cfg), "train": info}, files={"curve.csv": curve} if curve else None)
                self.train_info[key] = info
            self._memo[key, where] = model.to(where).eval()
        return self._memo[key, where]

    def data(self, cfg: DictConfig):  # noqa: ANN201
        """The track's data module for cfg (memoised by the data section)."""
        key = config_hash([str(cfg.track), to_dict(cfg, "data")])
        if key not in self._data:
            self._data[key] = track_of(cfg).data_module(cfg)
        return self._data[key]
