"""Method counters: per-sample means a method reports beside the common cost axes, in
``cost.counters`` (``{name: value}``, whatever the method counts). Analysis carries them by
name and never reads meaning into one (a family's counters are its own): each becomes a
``counter.<name>`` column of the trials table, a ``counters`` dict at each arm's best point
in summary.json, and a column of the front table.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

PREFIX = "counter."


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def counter_columns(record: dict[str, Any]) -> dict[str, float]:
    """``{"counter.<name>": value}`` of one record (NaN for a non-numeric value; {} without
    counters)."""
    counters = (record.get("cost") or {}).get("counters")
    if not isinstance(counters, dict):
        return {}
    return {f"{PREFIX}{name}": _number(value) for name, value in counters.items()}


def counter_names(frame: pd.DataFrame) -> list[str]:
    """The counters any record of the study reported, in first-seen order; [] when none."""
    return [c.removeprefix(PREFIX) for c in frame.columns if c.startswith(PREFIX)]


def counter_values(row: Any, names: list[str]) -> list[float | None]:
    """The value of each counter in ``names`` for one flattened trial (a row or a dict), None
    where it reported none."""
    values = [_number(row.get(f"{PREFIX}{name}")) for name in names]
    return [v if math.isfinite(v) else None for v in values]


def counters_of(row: Any, names: list[str]) -> dict[str, float]:
    """``{name: value}`` of the counters in ``names`` that one flattened trial reported."""
    return {n: v for n, v in zip(names, counter_values(row, names), strict=True) if v is not None}
