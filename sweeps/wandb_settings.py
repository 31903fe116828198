"""Where a sweep's W&B runs go: `logger.*` keys, the `WANDB_*` variables and wsbench's defaults.

Precedence, per key: a value set in the config or on the command line (`logger.project=x`)
wins; a key left null takes its `WANDB_*` variable; with neither, wsbench's default (mode
offline, project wsbench, the run folder as dir, the study name as group). `logger=none` (or
`~logger`) switches W&B off whatever the variables say; a mode of `disabled`, from either
side, also switches it off and nothing is written. Tags are the union of `logger.tags` and
`WANDB_TAGS` (comma-separated). Variables wsbench does not pass (WANDB_API_KEY,
WANDB_BASE_URL, WANDB_NOTES, ...) are read by W&B itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sweeps.errors import ConfigError

MODES = ("offline", "online", "disabled", "shared", "dryrun", "run")  # what wandb 0.31 accepts
ALIASES = {"dryrun": "offline", "run": "online"}  # W&B's older names
# logger key -> the W&B variable it falls back to
VARIABLES = {"mode": "WANDB_MODE", "project": "WANDB_PROJECT", "entity": "WANDB_ENTITY",
             "dir": "WANDB_DIR", "group": "WANDB_RUN_GROUP"}


def wandb_settings(logger, run_dir: Path, study: str, environ: Mapping[str, str] | None = None) -> dict | None:  # noqa: ANN001
    """The keyword arguments of `wandb.init` shared by a sweep's runs, or None when W&B is off.
    A mode outside offline/online/disabled (from `WANDB_MODE` too) is a one-line ConfigError."""
    environ = os.environ if environ is None else environ
    if not logger or logger.get("name", "none") == "none":
        return None
    out = {}
    for key, variable in VARIABLES.items():
        value = logger.get(key)
        out[key] = value if value not in (None, "") else (environ.get(variable) or None)
    if out["mode"] is not None and out["mode"] not in MODES:
        where = "logger.mode" if logger.get("mode") else "WANDB_MODE"
        raise ConfigError(where, out["mode"], f"one of {', '.join(MODES)}")
    out["mode"] = ALIASES.get(out["mode"], out["mode"])
    if out["mode"] == "disabled":
        return None
    out["mode"] = out["mode"] or "offline"
    out["project"] = out["project"] or "wsbench"
    out["dir"] = str(out["dir"] or run_dir)
    out["group"] = out["group"] or study
    tags = [*(logger.get("tags") or []), *(environ.get("WANDB_TAGS") or "").split(",")]
    out["tags"] = list(dict.fromkeys(str(t).strip() for t in tags if str(t).strip()))
    return out
