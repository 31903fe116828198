"""A small U-Net velocity model for images, called like every velocity net: net(x, t, t0=None).

Sized for 8x8 digits by default (two resolutions, 8 and 4); `levels` and `base` scale it to
28 and 32 pixels. Times enter through sinusoidal features -> MLP -> a shift per block.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.nets.time import as_batch, time_features


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class VelocityUNet(nn.Module):
    """U-Net with `levels` resolutions (each halves H and W; H must be divisible by 2^(levels-1))."""

    def __init__(
        self, shape: tuple[int, int, int] = (1, 8, 8), base: int = 32, levels: int = 2, time_freqs: int = 16,
        t0_conditioned: bool = False,
    ) -> None:
        super().__init__()
        channels, height, width = shape
        if height % 2 ** (levels - 1) or width % 2 ** (levels - 1):
            raise ValueError(f"refiner.net.levels={levels}: image size {height}x{width} must be divisible by "
                             f"2^(levels-1) = {2 ** (levels - 1)}")
        self.sample_shape = tuple(shape)
        self.time_freqs, self.t0_conditioned = time_freqs, t0_conditioned
        n_time = 2 * time_freqs * (2 if t0_conditioned else 1)
        emb = 4 * base
        self.embed = nn.Sequential(nn.Linear(n_time, emb), nn.SiLU(), nn.Linear(emb, emb))
        widths = [base * 2**i for i in range(levels)]
        self.stem = nn.Conv2d(channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        c = base
        for w in widths:
            self.down.append(ResBlock(c, w, emb))
            c = w
        self.mid = ResBlock(c, c, emb)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(ResBlock(c + w, w, emb))
            c = w
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # start as the zero field: stable early training
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | None = None) -> torch.Tensor:
        feats = [time_features(as_batch(t, x), self.time_freqs)]
        if self.t0_conditioned:
            if t0 is None:
                raise ValueError("this refiner is t0-conditioned: pass t0")
            feats.append(time_features(as_batch(t0, x), self.time_freqs))
        e = self.embed(torch.cat(feats, dim=1).to(x.dtype))
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                h = F.avg_pool2d(h, 2)
            h = block(h, e)
            skips.append(h)
        h = self.mid(h, e)
        for i, block in enumerate(self.up):
            if i > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), e)
        return self.out(h)
