"""What a measurement depends on besides its config: the code (a hash of the sources that
train, sample and time, and the git revision where there is one), the library versions, and
the conditions its timings were taken under (host, device, torch threads)."""

from __future__ import annotations

import functools
import hashlib
import socket
import subprocess
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig

from lightning_modules.core.device import resolve as resolve_device

ROOT = Path(__file__).resolve().parent.parent
# The packages whose code changes a trial's numbers (analysis only reads them).
MEASURING_PACKAGES = ("lightning_modules", "sweeps")


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 (16 hex) of every .py file of the measuring packages: changes with any edit,
    committed or not, and needs no git."""
    digest = hashlib.sha256()
    for package in MEASURING_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def revision() -> str | None:
    """The git commit of the source tree, None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("wsbench", "torch", "lightning", "optuna", "torchmetrics"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    out["code"], out["revision"] = code_hash(), revision()
    return out


def conditions(cfg: DictConfig) -> dict:
    """Where and how the timings are taken: part of every trial's identity, so a resumed sweep
    never reuses timings from another host, device, thread count or code."""
    device = resolve_device(str(cfg.device)).type  # auto: what it resolved to on this host
    return {"host": socket.gethostname(), "device": device, "threads": int(cfg.threads), "code": code_hash()}
