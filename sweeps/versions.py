"""Versions recorded in every trial, so a number can be traced to the code that made it."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    out = {}
    for dist in ("wsbench", "torch", "lightning", "optuna", "torchmetrics"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out
