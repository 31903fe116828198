"""Content-addressed artifact cache: a trained model lives under the hash of the config that made it.

Shared across studies; a 60-trial sweep trains each distinct model once. Writes are atomic
(temporary file, then rename) so an interrupted training never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sweeps.config import config_hash

# Bump when a change to training code makes old artifacts wrong.
CACHE_VERSION = 2  # 2: initial weights seeded by the training seed


def default_cache_dir() -> Path:
    env = os.environ.get("WSBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "wsbench"


class ArtifactCache:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    @staticmethod
    def key(kind: str, spec: dict) -> str:
        """The cache key of an artifact of `kind` produced by `spec` (a JSON-able config)."""
        return f"{kind}-{config_hash({'kind': kind, 'version': CACHE_VERSION, 'spec': spec})}"

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.path(key) / "model.pt").exists()

    def load(self, key: str) -> tuple[dict, dict]:
        """(state, meta) of a cached artifact."""
        folder = self.path(key)
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        meta = json.loads((folder / "meta.json").read_text())
        return state, meta

    def save(self, key: str, state: dict, meta: dict, files: dict[str, str] | None = None) -> None:
        """model.pt last (by rename): an artifact counts as cached only once everything is written."""
        folder = self.path(key)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"model.pt.tmp{os.getpid()}"
        torch.save(state, tmp)
        for name, text in (files or {}).items():  # e.g. curve.csv, the training's logged losses
            (folder / name).write_text(text)
        (folder / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
        os.replace(tmp, folder / "model.pt")

    def curve(self, key: str) -> Path | None:
        """The training curve (CSV) of a cached model, where its training logged one."""
        path = self.path(key) / "curve.csv"
        return path if path.exists() else None


def model_key(role: str, cfg) -> str:  # noqa: ANN001
    """The cache key of the model `role` trained from `cfg`: its spec under its cache kind (a
    role stored as another model's kind, such as the light MDLM, shares that model's keys)."""
    from lightning_modules.core.registry import MODELS

    spec = MODELS.get(role)
    return ArtifactCache.key(spec.cache_kind(), spec.spec(cfg))
