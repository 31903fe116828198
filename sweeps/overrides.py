"""What a command-line override means for a study's arms (the rule the README states).

- A key an arm sets itself (in its `set` list, or a group whose keys it sets) cannot be
  overridden for every arm: the arms' names would no longer say what ran. It is refused,
  naming the arms and the per-arm form.
- Every other key applies to every arm and is validated in each (an error names the arm).
- One arm is changed by keys under `sweep.arms.<name>`: `.set+=[KEY=VALUE, ...]` appends to
  its overrides (later ones win), `.set=[...]` replaces them, `.space=...` or
  `.space.<key>=...` its search space, `~sweep.arms.<name>` drops it and
  `+sweep.arms.<new>.set=[...]` adds an arm. A name that is not an arm is refused (with a
  suggestion); `sweep.only=[name, ...]` runs some arms only.
- An arm whose resolved method (or drafter) is not the one its name says is refused:
  `noise_start[indep]` cannot run sdedit.
"""

from __future__ import annotations

import copy
import re

from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.registry import DRAFTERS, METHODS
from sweeps import schema
from sweeps.errors import ConfigError, did_you_mean

ARMS = "sweep.arms"
_FIELDS = re.compile(r"^(?P<name>.+?)(?:\.(?P<field>set\+?|space|sampler|n_trials)(?:\.(?P<sub>.+))?)?$")
PER_ARM = "sweep.arms.<name>.set+=[{item}]"


def normalized(item: str) -> str:
    """The config key an override touches: '+a.b=1' -> 'a.b', 'refiner/net=unet' -> 'refiner.net';
    a section's `name` is its option (`method.name=x` picks the method as `method=x` does)."""
    key = item.partition("=")[0].strip().lstrip("+~").rstrip("+").replace("/", ".")
    return key[: -len(".name")] if key.endswith(".name") else key


def apply(cfg: DictConfig, kind: str, key: str, value: object) -> None:
    """Apply one override of a key under sweep.arms (kind: '=', '+', '++' or '~')."""
    if key == ARMS:
        if kind == "~":
            schema.delete_key(cfg, key, None)
        else:
            schema.set_key(cfg, key, value)
        return
    arms = OmegaConf.to_container(cfg.sweep.arms) if isinstance(cfg.sweep.arms, DictConfig) else {}
    name, field, sub = _split(key[len(ARMS) + 1:], arms, adding=kind in ("+", "++"))
    label = f"{'+' if kind in ('+', '++') else ''}{key}"
    if kind == "~":
        if field is not None:
            raise ConfigError(f"~{key}", value, f"~{ARMS}.<name> (drops the arm) or a new set/space for it")
        del arms[name]
    elif field is None:
        if not isinstance(value, dict):
            raise ConfigError(label, value, "a mapping {set: [KEY=VALUE, ...], space: {...}}")
        if kind == "+" and name in arms:
            raise ConfigError(label, value, f"a new arm: {name} is already an arm (drop the +, or use ++)")
        arms[name] = value
    elif field in ("sampler", "n_trials"):
        arms.setdefault(name, {})[field] = value
    elif field in ("set", "set+"):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(i, str) and ("=" in i or i.startswith("~")) for i in items):
            raise ConfigError(label, value, "a list of overrides such as [method.t0=0.7, drafter=vae]")
        arm = arms.setdefault(name, {})
        arm["set"] = (list(arm.get("set") or []) if field == "set+" else []) + items
    else:  # space, or one key of it (a key of its own may hold dots: method.t0)
        arm = arms.setdefault(name, {})
        if sub is None:
            arm["space"] = value
        else:
            space = arm.get("space")
            if space is None:  # the arm used the study's space: start from it
                space = copy.deepcopy(OmegaConf.to_container(cfg.sweep.space))
            if kind == "~":
                space.pop(sub, None)
            else:
                space[sub] = value
            arm["space"] = space
    schema.set_key(cfg, ARMS, arms)


def _split(rest: str, arms: dict, *, adding: bool) -> tuple[str, str | None, str | None]:
    """'warm_start[gmm4].space.method.t0' -> (arm name, 'space', 'method.t0'). Arm names may
    hold brackets and dots, so a known name is matched first."""
    for name in sorted(arms, key=len, reverse=True):
        if rest == name or rest.startswith(name + "."):
            tail = _FIELDS.match("x" + rest[len(name):])
            if tail and tail.group("name") == "x":
                return name, tail.group("field"), tail.group("sub")
    match = _FIELDS.match(rest)
    if match is None or not adding:
        guess = match.group("name") if match else rest
        raise ConfigError(f"{ARMS}.{guess}", "...", f"an arm of this study: {', '.join(arms) or 'none'}"
                          f"{did_you_mean(guess, arms)}; +{ARMS}.NEW.set=[...] adds one")
    return match.group("name"), match.group("field"), match.group("sub")


def check_no_conflicts(arms: dict, user: list[str]) -> None:
    """Refuse a command-line key that an arm sets itself (see the module docstring)."""
    for item in user:
        key = normalized(item)
        if key in ("experiment", "plugin") or key.startswith("sweep.") or key == "sweep":
            continue
        setters = [(name, s) for name, spec in arms.items() for s in (spec or {}).get("set") or []
                   if normalized(s) == key or normalized(s).startswith(key + ".")]
        if setters:
            names = list(dict.fromkeys(n for n, _ in setters))
            what = ", ".join(dict.fromkeys(s for _, s in setters))
            raise ConfigError(item.partition("=")[0].lstrip("+~"), item.partition("=")[2], f"a key no arm sets itself: arm(s) {', '.join(names)} "
                              f"set {what}; change one arm with {PER_ARM.format(item=item)}, or add one with "
                              f"+{ARMS}.NEW.set=[...]")


def select(arms: list, only: list | None) -> list:
    """The arms sweep.only names (all when it is null), in the study's order."""
    if only is None:
        return arms
    names = [a.name for a in arms]
    for name in only:
        if name not in names:
            raise ConfigError("sweep.only", name, f"an arm of this study: {', '.join(names)}"
                              f"{did_you_mean(name, names)}")
    return [a for a in arms if a.name in only]


def check_name(name: str, cfg: DictConfig) -> None:
    """An arm named after a method runs that method; `<method>[<drafter>...]` that drafter."""
    method = METHODS.get(str(cfg.method.name), key="method.name").name  # an unknown one: the registry's line
    head, _, inner = name.partition("[")
    if head in METHODS and head != method:
        raise ConfigError(f"{ARMS}.{name}", f"method={method}", f"method {head}, the method the arm is named "
                          f"after (an arm of another method needs a name of its own: +{ARMS}.NEW.set=[...])")
    if "drafter" not in METHODS.get(method).needs or not inner:
        return
    named = max((d for d in DRAFTERS.names() if inner.startswith(d)), key=len, default=None)
    if named is not None and named != str(cfg.drafter.name):
        raise ConfigError(f"{ARMS}.{name}", f"drafter={cfg.drafter.name}", f"drafter {named}, the drafter the "
                          f"arm is named after (give the arm a name of its own: +{ARMS}.NEW.set=[...])")


def primary_baseline(arms: list, declared: str | None) -> str | None:
    """The study's primary baseline: the declared arm (a baseline arm of the study), else the
    first baseline arm; None when the study has none. Every record carries it."""
    baselines = [a.name for a in arms if METHODS.get(str(a.cfg.method.name)).role == "baseline"]
    if declared is None:
        return baselines[0] if baselines else None
    if declared not in baselines:
        raise ConfigError("sweep.primary_baseline", declared, f"a baseline arm of this study: "
                          f"{', '.join(baselines) or 'none'}{did_you_mean(declared, baselines)}")
    return declared
