"""Model weights that ship with the package, so every user's numbers share them (as FID
shares one Inception network): `<cache key>.pt` files holding fp16 weights and the model's
training record. A model whose key has a shipped file is loaded from it, never trained.
`python -m sweeps.ship` writes one from a trained model.
"""

from __future__ import annotations

from pathlib import Path

import torch

SHIPPED_DIR = Path(__file__).parent


def find(key: str) -> Path | None:
    path = SHIPPED_DIR / f"{key}.pt"
    return path if path.is_file() else None


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(float32 state_dict, meta) of a shipped file."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()}, blob["meta"]


def rounded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state as it will be shipped and loaded: floats through fp16 and back."""
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}


def write(path: Path, state: dict[str, torch.Tensor], meta: dict) -> None:
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"state": half, "meta": meta}, path)
