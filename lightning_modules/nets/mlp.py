"""Velocity networks, always called as net(x, t, t0=None)."""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.nets.time import as_batch, time_features


class VelocityMLP(nn.Module):
    """MLP velocity field v(x, t) for low-dimensional data.

    With `t0_conditioned`, the start time t0 is an extra input, so one trained refiner
    serves a whole t0 sweep.
    """

    def __init__(
        self, dim: int = 2, hidden: int = 256, depth: int = 4, time_freqs: int = 16,
        t0_conditioned: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.sample_shape = (dim,)
        self.time_freqs = time_freqs
        self.t0_conditioned = t0_conditioned
        n_time = 2 * time_freqs * (2 if t0_conditioned else 1)
        layers: list[nn.Module] = [nn.Linear(dim + n_time, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        layers.append(nn.Linear(hidden, dim))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | None = None) -> torch.Tensor:
        t = as_batch(t, x)
        feats = [x, time_features(t, self.time_freqs)]
        if self.t0_conditioned:
            if t0 is None:
                raise ValueError("this refiner is t0-conditioned: pass t0")
            feats.append(time_features(as_batch(t0, x), self.time_freqs))
        return self.body(torch.cat(feats, dim=1))
