"""Where registrations come from: every folder of `lightning_modules/` with a `registered.py`
(found by a package scan, so a new family is a folder and core names none of them), installed
packages advertising the `wsbench.plugins` entry point group (as pytest finds its plugins),
and a user's `plugin=FILE.py` or module (lm-evaluation-harness's `--include_path`)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from lightning_modules.core.errors import ConfigError

ENTRY_POINTS = "wsbench.plugins"  # [project.entry-points."wsbench.plugins"] name = "package.module"
_loaded_plugins: dict[str, str] = {}
_builtins_loaded = False


def discovered() -> list[str]:
    """The modules whose imports register the built-ins: `lightning_modules.<folder>.registered`
    for every folder that has one (alphabetical), then the installed entry points."""
    import lightning_modules

    found = [f"lightning_modules.{info.name}.registered" for info in pkgutil.iter_modules(lightning_modules.__path__)
             if info.ispkg and importlib.util.find_spec(f"lightning_modules.{info.name}.registered") is not None]
    return found + [ep.value for ep in entry_points(group=ENTRY_POINTS)]


def load_builtins() -> None:
    """Import every discovered registration module (once; every registry lookup calls this)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for name in discovered():
        importlib.import_module(name)


def load_plugins(specs: Iterable[str] | str | None) -> list[str]:
    """Import user plugins: a path to a .py file or an importable module name each.
    Returns the resolved names; a missing file or module is a ConfigError on `plugin`."""
    load_builtins()
    if specs is None:
        return []
    if isinstance(specs, str):
        specs = [specs]
    done = []
    for spec in specs:
        spec = str(spec)
        if spec.endswith(".py") or "/" in spec or Path(spec).is_file():
            done.append(_load_file(spec))
        else:
            try:
                importlib.import_module(spec)
            except ImportError as err:
                raise ConfigError("plugin", spec, f"a path to a .py file or an importable module ({err})") from None
            done.append(spec)
    return done


def conf_dir() -> Path:
    """The project's conf/ (beside the package sources in an editable install), or $WSBENCH_CONF."""
    env = os.environ.get("WSBENCH_CONF")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "conf"


def plugin_path(spec: str) -> Path:
    """A plugin file: absolute (or ~) as given; relative, looked for in the current folder and
    then in the project's conf/ (so `plugin=plugins/warped_grid.py` works from any folder).
    A file found nowhere is a ConfigError naming every place looked."""
    given = Path(spec).expanduser()
    places = [given] if given.is_absolute() else [Path.cwd() / given, conf_dir() / given]
    for place in places:
        if place.is_file():
            return place.resolve()
    raise ConfigError("plugin", spec, "a path to an existing .py file or an importable module name (looked for "
                      + " and ".join(str(p) for p in places) + ")")


def _load_file(spec: str) -> str:
    path = plugin_path(spec)
    name = f"wsbench_plugin_{abs(hash(str(path))):x}"
    if _loaded_plugins.get(name) != str(path):
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            sys.modules.pop(name, None)
            raise ConfigError("plugin", spec, f"a file that imports cleanly ({err.__class__.__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})") from None
        _loaded_plugins[name] = str(path)
    return str(path)
