"""`wsbench list [plugin=FILE.py]`: what is registered (tracks, methods, drafters, refiner
families) with the knobs each declares, like `lm_eval --tasks list`."""

from __future__ import annotations

from lightning_modules.core.registry import DRAFTERS, FAMILIES, METHODS, TRACKS, Knob, load_plugins


def _knobs(knobs: tuple[Knob, ...]) -> str:
    return ", ".join(f"{k.name}={k.default!r} ({k.allowed()})" for k in knobs) or "none"


def registered(plugins: list[str] | None = None) -> str:
    """The registries as text, plugins included."""
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
    return "\n".join(lines)
