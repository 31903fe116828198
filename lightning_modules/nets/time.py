"""Sinusoidal time features shared by the nets. Two scalings exist because trained models
depend on them: continuous velocity nets use angles pi * t * f, the text denoiser t * f
(f geometric from 1 to 1000 in both)."""

from __future__ import annotations

import math

import torch


def time_features(t: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """Velocity nets: sin/cos of pi * t * f, [n] -> [n, 2 * n_freqs]."""
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), n_freqs, device=t.device))
    angles = t[:, None].float() * freqs[None, :] * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def denoiser_time_features(t: torch.Tensor, freqs: int) -> torch.Tensor:
    """The text denoiser: sin/cos of t * f (no pi), [n] -> [n, 2 * freqs]."""
    scale = torch.exp(torch.arange(freqs, device=t.device, dtype=torch.float32) * (math.log(1000.0) / max(1, freqs - 1)))
    angles = t.float().unsqueeze(-1) * scale
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def as_batch(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """A scalar or [n] time as an [n] tensor matching x's batch, dtype and device."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.expand(x.shape[0]) if t.ndim == 0 else t
