"""The device everything of a trial runs on: `device=cpu|cuda|auto`.

Models are moved to it after loading or training, drafters and samplers create every tensor on
their model's device (`Method.device`), and Lightning trains on it (`accelerator()`). A CPU
test runs every method with PyTorch's default device set to `meta` to catch any tensor made
without the method's device.
"""

from __future__ import annotations

import contextlib
import contextvars

import torch

from lightning_modules.core.errors import ConfigError

_ACCELERATOR = contextvars.ContextVar("accelerator", default="cpu")


def resolve(name: str) -> torch.device:
    """cpu, cuda (one line and exit 2 where there is none) or auto (cuda where there is one)."""
    if name == "cpu":
        return torch.device("cpu")
    if name in ("cuda", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if name == "auto":
            return torch.device("cpu")
        raise ConfigError("device", name, f"CUDA is not available (torch {torch.__version__}, "
                                          f"CUDA build {torch.version.cuda or 'none'}); use device=cpu or device=auto")
    raise ConfigError("device", name, "one of cpu, cuda, auto")


def accelerator() -> str:
    """Lightning's accelerator for trainings started now (follows the trial's device)."""
    return _ACCELERATOR.get()


@contextlib.contextmanager
def training_on(device: torch.device):
    token = _ACCELERATOR.set("gpu" if device.type == "cuda" else "cpu")
    try:
        yield
    finally:
        _ACCELERATOR.reset(token)


def device_of(*modules: object) -> torch.device:
    """The device of the first parameter or buffer among `modules` (CPU if none has one)."""
    for module in modules:
        if isinstance(module, torch.nn.Module):
            for tensor in (*module.parameters(), *module.buffers()):
                return tensor.device
    return torch.device("cpu")
