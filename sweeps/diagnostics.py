"""A method's diagnostics (MethodSpec.diagnostics: the scheduling family's step importance),
computed once per study for each set of models its arms use, after training and before any
trial, and written as RUN_DIR/diagnostics/<method>-<id>.json for the report
(analysis.diagnostics). A file already there for the same models is not computed again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning_modules.core.registry import METHODS
from sweeps.config import config_hash


def write_diagnostics(models, arms: list, run_dir: Path, log=print) -> list[Path]:  # noqa: ANN001
    """The diagnostics files of the study's arms (written or found); their paths."""
    groups: dict[Path, dict] = {}
    for arm in arms:
        spec = METHODS.get(arm.cfg.method.name)
        if spec.diagnostics is None:
            continue
        keys = {need: models.key(need, arm.cfg) for need in spec.needs}
        path = Path(run_dir) / "diagnostics" / f"{spec.name}-{config_hash([spec.name, keys])[:8]}.json"
        groups.setdefault(path, {"spec": spec, "cfg": arm.cfg, "keys": keys, "arms": []})["arms"].append(arm.name)
    for path, group in groups.items():
        if path.exists():
            continue
        spec, cfg = group["spec"], group["cfg"]
        log(f"  diagnostics of {spec.name} ({', '.join(group['arms'])}) ...")
        found = spec.diagnostics({need: models.get(need, cfg) for need in spec.needs}, models.data(cfg), cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # a killed run (or another worker) leaves no half-written file
        tmp.write_text(json.dumps({**found, "method": spec.name, "models": group["keys"], "arms": group["arms"]},
                                  indent=1, allow_nan=False))
        tmp.replace(path)
    return list(groups)
