"""Key overrides, read and applied: `a.b=value`, `+a.b=value`, `++a.b=value`, `~a.b` (Hydra's
grammar, parsed by sweeps.config), each applied to a composed config with Hydra's semantics
and refused, when it cannot be, in one line naming its key, its value and what is allowed.
Values under `sweep.space` are read as YAML and replace (their own keys hold dots); keys under
`sweep.arms` go to sweeps.overrides, which knows the arms by name."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import yaml
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from sweeps import overrides as arm_overrides
from sweeps import schema
from sweeps.errors import ConfigError, did_you_mean

_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def parse_value(text: str) -> object:
    """YAML scalar/list parsing, plus floats YAML 1.1 leaves as strings ('1e-3')."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str) and _SCIENTIFIC.match(value):
        return float(value)
    return value


def split_override(item: str) -> tuple[str, str]:
    """KEY=VALUE -> (KEY, VALUE); the key keeps any +, ++ or ~ prefix."""
    if "=" not in item:
        raise ConfigError("override", item, "overrides look like GROUP=OPTION or a.b=value")
    key, _, value = item.partition("=")
    return key.strip(), value.strip()


def bare(item: str) -> tuple[str, str, str]:
    """'++a.b=v' -> ('++', 'a.b', 'v'); '~a' -> ('~', 'a', '')."""
    prefix = re.match(r"^(\+\+|\+|~)?", item).group(0)
    rest = item[len(prefix):]
    key, _, value = rest.partition("=")
    return prefix, key.strip(), value.strip()


@dataclass
class KeyOverride:
    """One key override: kind is "=" (set), "+" (add), "++" (add or set) or "~" (delete)."""

    kind: str
    key: str
    value: object
    open: bool = False  # under sweep.space / sweep.arms: YAML value, replaces (never merges)


KINDS = {OverrideType.CHANGE: "=", OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++", OverrideType.DEL: "~"}
DOTTED_KEY = re.compile(r"[A-Za-z_][\w\-]*(\.[\w\-]+)*")


def yaml_value(key: str, text: str) -> object:
    """A value Hydra's grammar could not read, read as YAML (a path such as ~/data)."""
    try:
        return parse_value(text)
    except yaml.YAMLError:
        raise ConfigError(key, text, "a value Hydra's override grammar or YAML can read "
                          "(quote it: key='...')") from None


def apply(cfg: DictConfig, override: KeyOverride) -> None:
    """Apply one key override with Hydra's semantics, as a one-line ConfigError on failure."""
    key, value, kind = override.key, override.value, override.kind
    if override.open and key.startswith(arm_overrides.ARMS):  # one arm, by its name (sweeps.overrides)
        arm_overrides.apply(cfg, kind, key, value)
        return
    if override.open:  # under sweep.space: replace (no merge), any key
        if kind == "~":
            schema.delete_key(cfg, key, None)
        else:
            schema.set_key(cfg, key, value)
        return
    current = OmegaConf.select(cfg, key, default=schema.ABSENT, throw_on_missing=False)
    if kind == "~":
        schema.delete_key(cfg, key, value)
        return
    if kind == "=" and current is schema.ABSENT:
        raise ConfigError(key, value, "unknown config key (see `wsbench sweep --show-config`; "
                          f"+KEY=VALUE adds a key where the schema is free){did_you_mean(key, schema.all_keys(cfg))}")
    if kind == "+" and current is not schema.ABSENT and current is not None \
            and not isinstance(value, dict | list):
        raise ConfigError(f"+{key}", value, f"a new key: {key} is already set (drop the +, or use ++)")
    if current is schema.ABSENT:
        schema.check_free(cfg, key, value)
    try:
        with open_dict(cfg) if current is schema.ABSENT else contextlib.nullcontext():
            OmegaConf.update(cfg, key, value, merge=True, force_add=current is schema.ABSENT)
    except OmegaConfBaseException as err:
        raise ConfigError(key, value, schema.expected(cfg, key, err)) from None
