"""Configs: conf/*.yaml composed by hydra-core's Compose API, typed by sweeps/schema.py.

Hydra composes the defaults lists: groups (`method=sdedit`), nested groups
(`refiner/net=unet`), `+group=option`, `~group` (`~logger`: no logger) and experiment
overlays (`experiment=smoke`, `# @package _global_` files whose `override /group: option`
lines lose to the command line's group choices). The key overrides (`a.b=value`,
`+a.b=value`, `++a.b=value`, `~a.b`) are parsed by Hydra's grammar and applied here, one at
a time, so a bad one becomes a one-line ConfigError naming its key, its value and what is
allowed. Hydra never changes the working directory, writes output folders or touches
logging here: only `initialize_config_dir` + `compose` are used.

Order: base config, group options, experiment overlay, then the command line's key
overrides. `sweep.space` and `sweep.arms` are free-form mappings whose own keys contain dots
(`sweep.space={method.t0: [0.5, 0.9]}` replaces the whole mapping): their values are read
as YAML, not by Hydra's grammar. Sections `data`, `drafter`, `refiner`, `method` are free in
the schema (their knobs are declared by the registries, checked by sweeps.validate), but an
experiment's keys must exist in the option actually chosen (`experiment=smoke refiner=unet`
would otherwise put MLP keys into the U-Net config): that is a ConfigError. Reading and
applying one key override is sweeps.key_overrides'; what a key means for the arms is
sweeps.overrides'.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from lightning_modules.core.plugins import conf_dir
from sweeps import declared, schema
from sweeps import options as plugin_options
from sweeps.errors import ConfigError, did_you_mean
from sweeps.key_overrides import (
    DOTTED_KEY,
    KINDS,
    KeyOverride,
    bare,
    parse_value,
    split_override,
    yaml_value,
)
from sweeps.key_overrides import apply as apply_key
from sweeps.schema import set_key

__all__ = ["compose", "with_params", "set_key", "split_override", "parse_value", "group_options",
           "conf_dir", "to_dict", "config_hash"]

# Group sections the schema leaves free (checked against the chosen option for leaks).
_FREE_SECTIONS = ("data", "drafter", "refiner", "method")


# --- Hydra set-up ---------------------------------------------------------------------------

_hydra_dir: list[str] = []  # the conf dir GlobalHydra was initialised with by us


def _init_hydra() -> None:
    """Initialise Hydra once per conf dir (re-initialise when $WSBENCH_CONF changes)."""
    folder = str(conf_dir().resolve())
    gh = GlobalHydra.instance()
    if gh.is_initialized() and _hydra_dir == [folder]:
        return
    if gh.is_initialized():
        gh.clear()
    if not (Path(folder) / "config.yaml").is_file():
        raise ConfigError("WSBENCH_CONF", folder, "a folder holding config.yaml (and its groups)")
    store = ConfigStore.instance()
    store.store(name=schema.BASE_SCHEMA, node=schema.WsbenchConf)
    store.store(group="logger", name=f"wandb{schema.SCHEMA_SUFFIX}", node=schema.WandbLoggerConf)
    initialize_config_dir(config_dir=folder, version_base=None, job_name="wsbench")
    _hydra_dir[:] = [folder]
    plugin_options.unregister()  # entries offered for another conf dir may have a file here
    _pure_sections.cache_clear()
    _compose_groups_cached.cache_clear()
    _group_options.cache_clear()


def group_options(group: str) -> list[str]:
    """Options of a config group (files in conf/GROUP/ and registered plugin entries)."""
    _init_hydra()
    return list(_group_options(group, plugin_options.generation[0]))


@functools.lru_cache(maxsize=256)
def _group_options(group: str, _generation: int) -> tuple[str, ...]:
    loader = GlobalHydra.instance().config_loader()
    return tuple(o for o in loader.get_group_options(group) if not o.endswith(schema.SCHEMA_SUFFIX))


def _is_group(key: str) -> bool:
    return bool(key) and "." not in key and bool(group_options(key))


# --- compose --------------------------------------------------------------------------------


def _classify(item: str) -> tuple[str | None, KeyOverride | None]:
    """(group, None) for a defaults-list override (GROUP=OPTION, ~GROUP, +GROUP=OPTION,
    GROUP/SUB=OPTION), else (None, the key override). Values are read by Hydra's grammar;
    one it cannot read (a path such as ~/data) is read as YAML, as before Hydra."""
    prefix, key, text = bare(item)
    if "=" not in item and prefix != "~":
        split_override(item)  # the one-line "looks like KEY=VALUE" error
    if schema.open_key_of(key):
        value = None if prefix == "~" else yaml_value(key, text)
        return None, KeyOverride(prefix or "=", key, value, open=True)
    try:
        override = OverridesParser.create().parse_override(item)
    except HydraException as err:
        if "=" in item and prefix != "~" and DOTTED_KEY.fullmatch(key) and not _is_group(key):
            return None, KeyOverride(prefix or "=", key, yaml_value(key, text))
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "unreadable")
        raise ConfigError(key or "override", text or item, "Hydra override syntax: KEY=VALUE, +KEY=VALUE, "
                          f"~KEY, GROUP=OPTION ({first})") from None
    if override.is_sweep_override():
        raise ConfigError(key, text, "a single value (sweeps such as a,b belong in sweep.space)")
    if override.package is not None or "/" in key or _is_group(key):
        _check_option(override)
        return key, None
    return None, KeyOverride(KINDS[override.type], override.key_or_group, override.value())


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config for `overrides` (e.g. ["experiment=quickstart", "method.t0=0.9"]), in struct
    mode: `cfg.experiment` is the experiment's name (or None), `cfg.choices` maps each group
    to its chosen option (`~logger` composes as `logger=none`)."""
    _init_hydra()
    plugin = _plugin_of(overrides)
    if plugin is not None:
        plugin_options.register(plugin, conf_dir())
    groups: dict[str, str] = {}  # group -> its override; a later one wins
    keys: list[KeyOverride] = []  # key overrides, applied in order after composition
    for item in overrides:
        if bare(item)[1].split(".")[0] == "hydra":
            raise ConfigError(bare(item)[1], bare(item)[2], "not a key here: wsbench composes configs with Hydra "
                              "but runs no Hydra app; the run folder is sweep.run_dir (default runs/<sweep.study>)")
        group, key_override = _classify(item)
        if group is not None:
            groups[group] = item
        else:
            keys.append(key_override)
    cfg, choices = _compose_groups(list(groups.values()))
    experiment = choices.get("experiment")
    if experiment is not None:
        _check_no_leaks(cfg, choices, experiment)
    with open_dict(cfg):
        if choices.get("logger") is None:  # ~logger: the schema's default, {name: none}
            choices["logger"] = "none"
        cfg.experiment = experiment
        cfg.choices = {g: o for g, o in choices.items() if "/" not in g and g != "experiment"}
    declared.fill(cfg)  # before the key overrides: a declared model's keys exist to be set
    schema.open_struct(cfg)
    for key_override in keys:
        apply_key(cfg, key_override)
    schema.check_complete(cfg)
    schema.check_choices(cfg)
    return cfg


def _plugin_of(overrides: Sequence[str]) -> object:
    """The value of the last plugin=... (or +plugin=, ++plugin=) override."""
    plugin = None
    for item in overrides:
        if bare(item)[1] == "plugin" and "=" in item:
            plugin = _classify(item)[1].value
    return plugin


def _check_option(override: Override) -> None:
    """GROUP=OPTION with OPTION unknown: one line listing the options (before Hydra runs)."""
    if override.is_delete() or override.package is not None:
        return
    group, option = override.key_or_group, override.value()
    options = group_options(group)
    if not options:
        raise ConfigError(group, option, "a config group (see conf/)")
    if isinstance(option, str) and option not in options and not plugin_options.builtins_done:
        plugin_options.register(None, conf_dir())  # maybe a registered method or drafter without a conf/ file
        options = group_options(group)
    if not isinstance(option, str) or option not in options:
        raise ConfigError(group, option, f"one of {', '.join(options)}{did_you_mean(option, options)}")


def _compose_groups(group_overrides: list[str]) -> tuple[DictConfig, dict[str, Any]]:
    """Hydra's composition of the defaults lists: (config, group -> option). Cached per
    process (Hydra takes ~80 ms a call; compose runs once per arm), so a copy is returned."""
    _init_hydra()
    cfg, choices = _compose_groups_cached(tuple(group_overrides), plugin_options.generation[0])
    return copy.deepcopy(cfg), dict(choices)


@functools.lru_cache(maxsize=128)
def _compose_groups_cached(group_overrides: tuple[str, ...], _generation: int) -> tuple[DictConfig, dict]:
    try:
        cfg = hydra_compose(config_name="config", overrides=list(group_overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise _config_error(err, list(group_overrides)) from None
    # Hydra lists choices innermost first; keep the order of the defaults list.
    choices = {g: o for g, o in reversed(cfg.hydra.runtime.choices.items()) if not g.startswith("hydra")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def _config_error(err: Exception, overrides: list[str]) -> ConfigError:
    """One line for a Hydra/OmegaConf failure while composing groups and experiments."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = str(err.missing_cfg_file).rpartition("/")
        if group:
            return ConfigError(group, option, f"one of {', '.join(group_options(group))}")
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(err).split())
    source = re.search(r"In '([^']+)'", text)
    where = f" (set in conf/{source.group(1)}.yaml)" if source else ""
    if cause is not None and cause.full_key:
        key = str(cause.full_key)
        if isinstance(cause, ConfigKeyError | ConfigAttributeError):
            return ConfigError(key, cause.value, f"not a key of the schema{where}")
        return ConfigError(key, cause.value, schema.expected(OmegaConf.structured(schema.WsbenchConf), key, cause) + where)
    return ConfigError("overrides", " ".join(overrides) or "(none)", text)


@functools.lru_cache(maxsize=256)
def _pure_sections(choices: tuple[tuple[str, Any], ...], _generation: int) -> dict:
    """The free sections as the chosen options alone make them (no experiment)."""
    ovr = [f"{g}={o}" if o is not None else f"~{g}" for g, o in choices]
    cfg, _ = _compose_groups(ovr)
    return {s: OmegaConf.to_container(cfg[s]) for s in _FREE_SECTIONS if s in cfg}


def _check_no_leaks(cfg: DictConfig, choices: dict[str, Any], experiment: str) -> None:
    """An experiment's key must exist in the option chosen (which the command line may have
    changed): no MLP keys inside a U-Net refiner."""
    picked = tuple(sorted((g, o) for g, o in choices.items() if g != "experiment" and o is not None))
    pure = _pure_sections(picked, plugin_options.generation[0])
    for section in _FREE_SECTIONS:
        if section not in cfg or section not in pure:
            continue
        leak = _extra_key(OmegaConf.to_container(cfg[section]), pure[section], section)
        if leak is not None:
            key, value = leak
            option = ", ".join(f"{g}={o}" for g, o in picked if g.split("/")[0] == section)
            raise ConfigError(key, value, f"not a key of {option}; experiment={experiment} sets it for "
                              f"another {section} option (choose that one, or drop the {section} override)")


def _extra_key(have: Any, pure: Any, prefix: str) -> tuple[str, Any] | None:
    if not isinstance(have, dict) or not isinstance(pure, dict):
        return None
    for key, value in have.items():
        if key not in pure:
            return f"{prefix}.{key}", value
        found = _extra_key(value, pure[key], f"{prefix}.{key}")
        if found:
            return found
    return None


def with_params(cfg: DictConfig, params: dict[str, object]) -> DictConfig:
    """A copy of cfg with swept params (dotted keys) applied (types and choices checked)."""
    out = copy.deepcopy(cfg)
    schema.open_struct(out)
    for key, value in params.items():
        schema.set_key(out, key, value)
    schema.check_choices(out)
    return out


def to_dict(cfg: DictConfig | dict, *keys: str) -> dict:
    """Plain dict of the given top-level sections (all when none are named)."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    return {k: data[k] for k in keys} if keys else data


def config_hash(obj: object) -> str:
    """Content hash of a JSON-able object (canonical: sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
