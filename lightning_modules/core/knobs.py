"""Knobs: the declared settings of methods, drafters, models and refiner families (type,
default, allowed values). Validation and the tables' columns read these declarations."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lightning_modules.core.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Knob:
    """One declared setting: its type, default and allowed values (validation reads these)."""

    name: str
    type: type = float
    default: Any = None
    low: float | None = None
    high: float | None = None
    high_open: bool = False  # [low, high) instead of [low, high]
    choices: tuple | None = None
    nullable: bool = False
    required: bool = False  # build_method refuses to fill it from the default
    column: bool = True  # shown as a table column (False: a solver detail, kept in params only)
    help: str = ""
    # the value's form beyond its type (a schedule's grammar): raises ValueError saying what is allowed
    parse: Callable[[Any], Any] | None = None

    def allowed(self) -> str:
        """What the knob accepts, in words (the tail of every error line)."""
        if self.choices is not None:
            text = f"one of {', '.join(str(c) for c in self.choices)}"
        elif self.type is bool:
            text = "true or false"
        elif self.type in (list, dict):
            text = "a list" if self.type is list else "a mapping"
        elif self.type is str:
            text = "a string"
        else:
            noun = "an integer" if self.type is int else "a number"
            if self.low is not None and self.high is not None:
                text = f"{noun} in [{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
            elif self.low is not None:
                text = f"{noun} >= {_num(self.low)}"
            elif self.high is not None:
                text = f"{noun} <= {_num(self.high)}"
            else:
                text = noun
        return text + (" or null" if self.nullable else "")

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.choices is not None:
            return value in self.choices
        if self.type is bool:
            return isinstance(value, bool)
        if self.type in (list, dict):
            return isinstance(value, self.type)
        if self.type is str:
            return isinstance(value, str) and value != ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.type is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and value < self.low:
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def check(self, key: str, value: Any) -> None:
        """Raise a one-line ConfigError naming `key` unless `value` is allowed."""
        if not self.ok(value):
            raise ConfigError(key, value, self.allowed())
        if self.parse is not None and value is not None:
            try:
                self.parse(value)
            except ValueError as err:
                raise ConfigError(key, value, str(err)) from None


def _num(v: float) -> str:
    return f"{v:g}"


def check_section(section: str, values: dict, knobs: Iterable[Knob], *, owner: str,
                  fixed: Iterable[str] = ("name",)) -> None:
    """Check every declared knob present in `values`; a key nobody declared is an error
    (so a key leaking from another option, or a typo, never passes silently)."""
    knobs = list(knobs)
    declared = {k.name: k for k in knobs}
    for key, value in values.items():
        if key in fixed:
            continue
        if key not in declared:
            allowed = ", ".join(declared) or "none"
            raise ConfigError(f"{section}.{key}", value, f"not a knob of {owner} (its knobs: {allowed})"
                              + did_you_mean(key, declared))
        declared[key].check(f"{section}.{key}", value)
