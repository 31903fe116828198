"""One trial: the models an arm needs (cached), samples with counted cost, quality with CIs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from lightning_modules.cost import eval_flops_per_sample, measure
from lightning_modules.methods import METHODS, build_method
from lightning_modules.metrics import quality, reference_floor
from lightning_modules.nets import VelocityMLP
from sweeps.config import config_hash, to_dict
from sweeps.models import ModelStore

# Knobs every record carries in `params`, resolved, so analysis can group and label points.
STANDARD_KNOBS = ("method.name", "method.t0", "method.steps", "method.solver", "refiner.pairing",
                  "refiner.start", "refiner.t0_conditioned", "drafter.name")


@dataclass
class Evaluation:
    quality: dict
    floor: dict
    cost: dict
    samples: torch.Tensor
    drafts: torch.Tensor | None
    train: dict


def trial_hash(cfg: DictConfig) -> str:
    """Identity of a trial's result: everything that can change its numbers."""
    return config_hash(to_dict(cfg, "data", "drafter", "refiner", "method", "eval", "seed"))


def knob_values(cfg: DictConfig, extra: list[str]) -> dict:
    from omegaconf import OmegaConf

    out = {}
    for key in list(STANDARD_KNOBS) + [k for k in extra if k not in STANDARD_KNOBS]:
        value = OmegaConf.select(cfg, key)
        out[key] = OmegaConf.to_container(value) if hasattr(value, "_metadata") else value
    if cfg.drafter.name == "gmm":
        out["drafter.n_components"] = cfg.drafter.n_components
    return out


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


class Evaluator:
    """Evaluates trial configs; caches references and floors per (data, n, metrics)."""

    def __init__(self, models: ModelStore) -> None:
        self.models = models
        self._refs: dict[str, tuple[torch.Tensor, dict]] = {}

    def reference(self, cfg: DictConfig) -> tuple[torch.Tensor, dict]:
        e = cfg.eval
        key = config_hash([to_dict(cfg, "data"), e.n_samples, e.reference_seed, list(e.metrics),
                           to_dict(cfg.eval)["metric_options"]])
        if key not in self._refs:
            dm = self.models.data(cfg)
            ref = dm.reference(e.n_samples, e.reference_seed)
            other = dm.reference(e.n_samples, e.reference_seed + 1)
            floor = reference_floor(other, ref, metrics=list(e.metrics), seed=cfg.seed,
                                    options=to_dict(cfg.eval)["metric_options"])
            self._refs[key] = (ref, floor)
        return self._refs[key]

    def evaluate(self, cfg: DictConfig) -> Evaluation:
        name = cfg.method.name
        check_t0_matches_refiner(cfg)
        models, train = {}, {}
        for need in METHODS[name].needs:
            models[need] = self.models.get(need, cfg)
            key = self.models.key(need, cfg)
            train[need] = {"key": key, **self.models.train_info.get(key, {})}
        knobs = to_dict(cfg.method)
        knobs["start"] = cfg.refiner.start
        method = build_method(name, models, knobs)
        net_cfg = cfg.refiner.net
        unit_net = VelocityMLP(dim=2, hidden=net_cfg.hidden, depth=net_cfg.depth, time_freqs=net_cfg.time_freqs)
        eval_flops = eval_flops_per_sample(unit_net, 2)
        batch = measure(method, cfg.eval.n_samples, cfg.seed, eval_flops=eval_flops,
                        repeats=cfg.eval.timing_repeats, device=cfg.device)
        reference, floor = self.reference(cfg)
        q = quality(batch.samples, reference, metrics=list(cfg.eval.metrics), n_boot=cfg.eval.n_boot,
                    seed=cfg.seed, options=to_dict(cfg.eval)["metric_options"])
        return Evaluation(q, floor, batch.cost, batch.samples, batch.drafts, train)


def check_t0_matches_refiner(cfg: DictConfig) -> None:
    """A refiner is only valid at the t0 it was trained for: a mismatch fails the trial."""
    if cfg.method.name != "warm_start":
        return
    t0, r = cfg.method.t0, cfg.refiner
    if r.t0_conditioned:
        lo, hi = r.t0_range
        if not lo <= t0 <= hi:
            raise ValueError(f"method.t0={t0} lies outside refiner.t0_range [{lo}, {hi}] the refiner was trained on")
    elif abs(t0 - r.t0) > 1e-9:
        raise ValueError(f"method.t0={t0} differs from refiner.t0={r.t0}, the only t0 this refiner was trained for")


def save_samples(run_dir: Path, arm: str, trial: int, ev: Evaluation, keep: int) -> tuple[str, str | None]:
    """Keep the first `keep` samples (and drafts) as .npy for the report; returns relative paths."""
    folder = Path("samples") / safe_name(arm)
    (run_dir / folder).mkdir(parents=True, exist_ok=True)
    samples_rel = folder / f"{trial}.npy"
    np.save(run_dir / samples_rel, ev.samples[:keep].float().numpy())
    drafts_rel = None
    if ev.drafts is not None:
        drafts_rel = folder / f"{trial}.drafts.npy"
        np.save(run_dir / drafts_rel, ev.drafts[:keep].float().numpy())
    return str(samples_rel), (str(drafts_rel) if drafts_rel else None)
