"""Registered methods, drafters and track data without a conf/ file, offered to Hydra as
config options (its ConfigStore), so `method=NAME`, `drafter=NAME` and `data=TRACK` select a
plugin's entries like built-in ones. The options are process-wide; `generation[0]` changes
whenever they do (the composer's caches are keyed by it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

registered: set[tuple[str, str]] = set()
builtins_done: list[bool] = []  # non-empty once _register ran for this conf dir
# Bumped whenever the ConfigStore options change: the caches below are keyed by it. A count of
# the options would not do: unregister then register again can give an old count back.
generation: list[int] = [0]


def _registry() -> Any:
    """The registries with the built-ins loaded; None while they cannot be imported."""
    try:
        from lightning_modules.core import registry

        registry.load_builtins()
    except ImportError:
        return None
    return registry


def unregister() -> None:
    """Drop the ConfigStore options _register added (they are process-wide)."""
    for group, name in registered:
        ConfigStore.instance().repo.get(group, {}).pop(f"{name}.yaml", None)
    registered.clear()
    generation[0] += 1
    builtins_done.clear()


def register(plugin: object, conf_folder: Path) -> None:
    """Load plugins, then offer every registered method, drafter and track data option that
    has no conf/ file as a ConfigStore option, so `method=NAME` selects it. Without a plugin
    this runs only when a group option has no file (the built-ins import torch: seconds)."""
    builtins_done[:] = [True]
    registry = _registry()
    if plugin is not None:
        if registry is None:  # import the registry module itself, not the (broken) built-ins
            from lightning_modules.core import registry
        registry.load_plugins(plugin)
    if registry is None:
        return
    store, folder = ConfigStore.instance(), conf_folder
    entries = [("method", n, s) for n, s in registry.METHODS.items()]
    entries += [("drafter", n, s) for n, s in registry.DRAFTERS.items()]
    for group, name, spec in entries:
        if (group, name) in registered or (folder / group / f"{name}.yaml").exists():
            continue
        node = {"name": name, **{k.name: k.default for k in spec.knobs if k.name != "name"}}
        store.store(group=group, name=name, node=node, provider="wsbench plugin")
        registered.add((group, name))
        generation[0] += 1
    for name, track in registry.TRACKS.items():
        defaults = getattr(track, "data_defaults", None)
        if not isinstance(defaults, dict) or ("data", name) in registered:
            continue
        if (folder / "data" / f"{name}.yaml").exists():
            continue
        store.store(group="data", name=name, node={"track": name, "data": dict(defaults)},
                    package="_global_", provider="wsbench plugin")
        registered.add(("data", name))
        generation[0] += 1


