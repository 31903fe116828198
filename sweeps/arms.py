"""Arms: the curves of a study. Each is a config (experiment + arm overrides + user overrides)
plus a search space; all are validated, every grid point included, before any compute."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sweeps.config import compose, split_override, with_params
from sweeps.errors import ConfigError
from sweeps.validate import validate_run, validate_sweep


@dataclass
class Arm:
    name: str
    cfg: DictConfig
    space: dict = field(default_factory=dict)

    def grid(self) -> list[dict]:
        """Every combination of the space's listed values, in a fixed order."""
        keys = list(self.space)
        values = [self.space[k] for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _space(raw: object, arm: str, sampler: str) -> dict:
    if raw is None:
        return {}
    space = OmegaConf.to_container(raw) if isinstance(raw, DictConfig) else dict(raw)
    for key, spec in space.items():
        if sampler == "grid" and (not isinstance(spec, list) or not spec):
            raise ConfigError(f"sweep.space[{arm}].{key}", spec, "a non-empty list of values for the grid sampler")
        if isinstance(spec, dict) and not {"low", "high"} <= set(spec):
            raise ConfigError(f"sweep.space[{arm}].{key}", spec, "{low: , high: [, log: , step: ]} or a list")
        if isinstance(spec, dict) and not spec["low"] <= spec["high"]:
            raise ConfigError(f"sweep.space[{arm}].{key}", spec, "a range with low <= high")
    return space


def build_arms(overrides: list[str]) -> tuple[DictConfig, list[Arm]]:
    """The study config and its validated arms."""
    cfg = compose(overrides)
    validate_sweep(cfg)
    sampler = cfg.sweep.sampler
    exp = [f"experiment={cfg.experiment}"] if cfg.experiment else []
    user = [o for o in overrides if not o.startswith("experiment=")]
    arms: list[Arm] = []
    raw_arms = cfg.sweep.arms
    if not raw_arms:
        validate_run(cfg)
        arms.append(Arm(cfg.method.name, cfg, _space(cfg.sweep.space, cfg.method.name, sampler)))
    else:
        for name, spec in OmegaConf.to_container(raw_arms).items():
            sets = list(spec.get("set", []) or [])
            for item in sets:
                split_override(item)
            arm_cfg = compose(exp + sets + user)
            validate_run(arm_cfg)
            space = spec.get("space", OmegaConf.to_container(cfg.sweep.space))
            arms.append(Arm(str(name), arm_cfg, _space(space, str(name), sampler)))
    for arm in arms:
        if sampler == "grid":
            for point in arm.grid():
                validate_run(with_params(arm.cfg, point))
        else:  # both ends of every range (a list: every value) must be valid
            for key, spec in arm.space.items():
                for value in (spec if isinstance(spec, list) else [spec["low"], spec["high"]]):
                    validate_run(with_params(arm.cfg, {key: value}))
    return cfg, arms


def run_dir_of(cfg: DictConfig) -> Path:
    return Path(cfg.sweep.run_dir) if cfg.sweep.run_dir else Path("runs") / cfg.sweep.study
