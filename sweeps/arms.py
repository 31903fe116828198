"""Arms: the curves of a study. Each is a config (experiment + arm overrides + user overrides)
plus a search space; all are validated, every grid point included, before any compute."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sweeps import overrides as arm_overrides
from sweeps.config import compose, split_override, with_params
from sweeps.errors import ConfigError
from sweeps.validate import validate_run, validate_sweep

SAMPLERS = ("grid", "tpe", "nsga2")


@dataclass
class Arm:
    name: str
    cfg: DictConfig
    space: dict = field(default_factory=dict)
    sampler: str = "grid"  # the arm's own (sweep.arms.<name>.sampler), else the study's sweep.sampler
    n_trials: int | None = None  # tpe / nsga2: the arm's budget (null -> 20)

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


def _sampler(spec: dict, arm: str, cfg: DictConfig) -> tuple[str, int | None]:
    """The arm's sampler and trial budget: its own `sampler` / `n_trials` keys, else the study's
    (so one study can search a small grid exhaustively and a large space with TPE)."""
    unknown = set(spec) - {"set", "space", "sampler", "n_trials"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"sweep.arms.{arm}.{key}", spec[key], "not a key of an arm (set, space, sampler, n_trials)")
    sampler = spec.get("sampler", cfg.sweep.sampler)
    if sampler not in SAMPLERS:
        raise ConfigError(f"sweep.arms.{arm}.sampler", sampler, f"one of {', '.join(SAMPLERS)}")
    n_trials = spec.get("n_trials", cfg.sweep.n_trials)
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
        raise ConfigError(f"sweep.arms.{arm}.n_trials", n_trials, "an integer >= 1 or null")
    return str(sampler), n_trials


def build_arms(overrides: list[str]) -> tuple[DictConfig, list[Arm]]:
    """The study config and its validated arms (the override rule: sweeps.overrides)."""
    cfg = compose(overrides)
    validate_sweep(cfg)
    exp = [f"experiment={cfg.experiment}"] if cfg.experiment else []
    user = [o for o in overrides if not o.startswith("experiment=")]
    arms: list[Arm] = []
    raw_arms = cfg.sweep.arms
    if not raw_arms:
        with _in_arm(cfg.method.name, user):
            validate_run(cfg)
        sampler = str(cfg.sweep.sampler)
        arms.append(Arm(cfg.method.name, cfg, _space(cfg.sweep.space, cfg.method.name, sampler), sampler,
                        cfg.sweep.n_trials))
    else:
        raw = OmegaConf.to_container(raw_arms)
        arm_overrides.check_no_conflicts(raw, user)
        for name, spec in raw.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"sweep.arms.{name}", spec, "a mapping {set: [KEY=VALUE, ...], space: {...}}")
            sets = list(spec.get("set", []) or [])
            for item in sets:
                split_override(item)
            with _in_arm(str(name), user):
                arm_cfg = compose(exp + sets + user)
                arm_overrides.check_name(str(name), arm_cfg)
                validate_run(arm_cfg)
            space = spec.get("space", OmegaConf.to_container(cfg.sweep.space))
            sampler, n_trials = _sampler(spec, str(name), cfg)
            arms.append(Arm(str(name), arm_cfg, _space(space, str(name), sampler), sampler, n_trials))
    arms = arm_overrides.select(arms, OmegaConf.to_container(cfg.sweep.only) if cfg.sweep.only else None)
    arm_overrides.primary_baseline(arms, cfg.sweep.primary_baseline)
    for arm in arms:
        with _in_arm(arm.name, user):
            if arm.sampler == "grid":
                for point in arm.grid():
                    validate_run(with_params(arm.cfg, point))
            else:  # both ends of every range (a list: every value) must be valid
                for key, spec in arm.space.items():
                    for value in (spec if isinstance(spec, list) else [spec["low"], spec["high"]]):
                        validate_run(with_params(arm.cfg, {key: value}))
    return cfg, arms


@contextlib.contextmanager
def _in_arm(name: str, user: list[str]):  # noqa: ANN202
    """A ConfigError raised while building one arm names the arm; where the key came from the
    command line, it also says how to set it for some arms only."""
    try:
        yield
    except ConfigError as err:
        if "(in arm " in err.allowed or err.key.startswith(f"sweep.arms.{name}"):
            raise
        mine = next((o for o in user if arm_overrides.normalized(o) == err.key.lstrip("+~")), None)
        hint = f"; for some arms only: {arm_overrides.PER_ARM.format(item=mine)}" if mine else ""
        raise ConfigError(err.key, err.value, f"{err.allowed} (in arm {name}{hint})") from None


def run_dir_of(cfg: DictConfig) -> Path:
    return Path(cfg.sweep.run_dir) if cfg.sweep.run_dir else Path("runs") / cfg.sweep.study


def show_config(overrides: list[str]) -> str:
    """`--show-config`: the study's config, then one YAML document per arm with its search
    space and resolved config (every value validated first, as a sweep would)."""
    from sweeps.storage import secretless

    cfg, arms = build_arms(overrides)
    docs = [OmegaConf.to_yaml(secretless(cfg))]
    for arm in arms:
        resolved = OmegaConf.to_container(secretless(arm.cfg), resolve=True)
        for key in ("sweep", "logger", "choices", "experiment"):
            resolved.pop(key, None)
        docs.append(OmegaConf.to_yaml({"arm": arm.name, "space": arm.space, "config": resolved}))
    return "---\n".join(docs)
