"""Hydra-style composition of the YAML configs in conf/ with GROUP=OPTION and a.b=value overrides.

Kept small on purpose (no Hydra runtime: no working-directory changes, no output folders,
and errors we control, one line each). Order of application: the base config and its
default group options, the experiment's group options, the user's group options, then the
experiment's keys, then the user's key overrides (struct mode: unknown keys are errors).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from sweeps.errors import ConfigError

# Keys under these hold free-form mappings whose own keys contain dots (swept config keys).
_OPEN_KEYS = ("sweep.space", "sweep.arms")


def conf_dir() -> Path:
    """conf/ beside the package sources (editable install), or $WSBENCH_CONF."""
    env = os.environ.get("WSBENCH_CONF")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "conf"


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def parse_value(text: str) -> object:
    """YAML scalar/list parsing, plus floats YAML 1.1 leaves as strings ('1e-3')."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        return float(value)
    return value


def split_override(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError("override", item, "overrides look like GROUP=OPTION or a.b=value")
    key, _, value = item.partition("=")
    return key.strip(), value.strip()


def _load_yaml(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def _load_option(group: str, option: str) -> dict:
    path = conf_dir() / group / f"{option}.yaml"
    if not path.exists():
        raise ConfigError(group, option, f"one of {', '.join(group_options(group))}")
    return _load_yaml(path)


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config for `overrides` (e.g. ["experiment=quickstart", "method.t0=0.9"])."""
    base = _load_yaml(conf_dir() / "config.yaml")
    choices: dict[str, str] = dict(base.pop("defaults"))
    user_choices: dict[str, str] = {}
    key_overrides: list[tuple[str, str]] = []
    experiment: str | None = None
    for item in overrides:
        key, value = split_override(item)
        if key == "experiment":
            experiment = value
        elif key in choices:
            user_choices[key] = value
        else:
            key_overrides.append((key, value))
    exp_body: dict = {}
    if experiment is not None:
        exp_body = _load_option("experiment", experiment)
        choices.update(exp_body.pop("defaults", None) or {})
    choices.update(user_choices)

    cfg = OmegaConf.create(base)
    for group, option in choices.items():
        cfg[group] = _load_option(group, option)
    cfg = OmegaConf.merge(cfg, exp_body)
    cfg.experiment = experiment
    cfg.choices = dict(choices)
    OmegaConf.set_struct(cfg, True)
    for key in _OPEN_KEYS:
        node = OmegaConf.select(cfg, key)
        if isinstance(node, DictConfig):
            OmegaConf.set_struct(node, False)
    for key, text in key_overrides:
        set_key(cfg, key, parse_value(text))
    return cfg


def set_key(cfg: DictConfig, key: str, value: object) -> None:
    """Set an existing dotted key; unknown keys are a ConfigError, not a silent addition."""
    open_parent = any(key == k or key.startswith(k + ".") for k in _OPEN_KEYS)
    if not open_parent and OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
        raise ConfigError(key, value, "unknown config key (see `wsbench sweep --show-config`)")
    try:
        OmegaConf.update(cfg, key, value, merge=False, force_add=open_parent)
    except (ConfigAttributeError, ConfigKeyError) as err:
        raise ConfigError(key, value, f"cannot be set ({err.__class__.__name__})") from None


def with_params(cfg: DictConfig, params: dict[str, object]) -> DictConfig:
    """A copy of cfg with swept params (dotted keys) applied."""
    out = OmegaConf.create(OmegaConf.to_container(cfg))
    OmegaConf.set_struct(out, True)
    for key in _OPEN_KEYS:
        node = OmegaConf.select(out, key)
        if isinstance(node, DictConfig):
            OmegaConf.set_struct(node, False)
    for key, value in params.items():
        set_key(out, key, value)
    return out


def to_dict(cfg: DictConfig | dict, *keys: str) -> dict:
    """Plain dict of the given top-level sections (all when none are named)."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    return {k: data[k] for k in keys} if keys else data


def config_hash(obj: object) -> str:
    """Content hash of a JSON-able object (canonical: sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
