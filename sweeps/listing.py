"""`wsbench list [plugin=FILE.py]`: what is registered (tracks, methods, drafters, refiner
families) with the knobs each declares, like `lm_eval --tasks list`, then the experiments and
every config group's options (conf/ files and plugin entries)."""

from __future__ import annotations

import re

import yaml

from lightning_modules.core.registry import DRAFTERS, FAMILIES, METHODS, TRACKS, Knob, load_plugins


def _knobs(knobs: tuple[Knob, ...]) -> str:
    return ", ".join(f"{k.name}={k.default!r} ({k.allowed()})" for k in knobs) or "none"


def registered(plugins: list[str] | None = None) -> str:
    """The registries, the experiments and the config groups as text, plugins included."""
    load_plugins(plugins)
    lines = ["tracks (track=NAME):"]
    for name, track in TRACKS.items():
        lines.append(f"  {name:<12} kind {track.kind}; data.name: {', '.join(track.datasets)}; "
                     f"evaluator models: {', '.join(track.evaluators) or 'none'}")
    lines.append("methods (method=NAME):")
    for name, spec in METHODS.items():
        lines.append(f"  {name:<18} role {spec.role}, t0 {spec.t0}, kinds {'/'.join(spec.kinds)}, "
                     f"needs {', '.join(spec.needs)}; knobs: {_knobs(spec.knobs)}")
    lines.append("drafters (drafter=NAME):")
    for name, spec in DRAFTERS.items():
        lines.append(f"  {name:<10} kinds {'/'.join(spec.kinds)}; knobs: {_knobs(spec.knobs)}")
    lines.append("refiner families (refiner.family=NAME):")
    for name, spec in FAMILIES.items():
        lines.append(f"  {name:<6} kinds {'/'.join(spec.kinds)}; pairings {', '.join(spec.pairings)}; "
                     f"nets {', '.join(spec.nets)}")
    return "\n".join(lines + experiments() + config_groups(plugins))


def experiments() -> list[str]:
    """One line per conf/experiment/*.yaml: its first sentence and the arms it sets."""
    from sweeps.config import conf_dir, group_options

    lines = ["experiments (experiment=NAME):"]
    for name in sorted(group_options("experiment")):
        path = conf_dir() / "experiment" / f"{name}.yaml"
        text = path.read_text() if path.is_file() else ""
        arms = ((yaml.safe_load(text) or {}).get("sweep") or {}).get("arms") or {}
        lines.append(f"  {name:<16} {_first_sentence(text)}")
        if arms:
            lines.append(f"  {'':<16} arms: {', '.join(arms)}")
    return lines


def config_groups(plugins: list[str] | None = None) -> list[str]:
    """Every config group of conf/ (nested ones as a/b) with its options, plugins' included."""
    from sweeps import options as plugin_options
    from sweeps.config import conf_dir, group_options

    plugin_options.register(plugins or None, conf_dir())
    root = conf_dir()
    groups = sorted(str(d.relative_to(root)) for d in root.rglob("*")
                    if d.is_dir() and any(d.glob("*.yaml")) and d.name != "experiment")
    lines = ["config groups (GROUP=OPTION):"]
    for group in groups:
        lines.append(f"  {group:<12} {', '.join(sorted(group_options(group)))}")
    return lines


def _first_sentence(text: str) -> str:
    """The experiment's own description: its leading comment up to the first full stop."""
    words = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if "@package" not in line:
            words.append(line.lstrip("# ").strip())
    sentence = re.split(r"(?<=\.)\s+(?=[A-Z])", " ".join(words))[0]
    return sentence if len(sentence) <= 100 else sentence[:100].rsplit(" ", 1)[0] + " ..."
