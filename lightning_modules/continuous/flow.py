"""The flow-matching LightningModule: noise-start baselines and warm-start refiners.

Thin by design: the shared `RefinerModule` holds the net, its EMA copy, the training step
and the optimiser; this adds the loss on the paths of `paths.py`. Sampling lives in `methods.py`.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.continuous.pairing import pair
from lightning_modules.continuous.paths import linear_path, sample_times, warm_start_state
from lightning_modules.core.refiner_module import RefinerModule


class FlowMatching(RefinerModule):
    """Flow matching on the linear path from a source state at t0 to data at 1.

    mode="noise": source = Gaussian noise at t0 = 0 (the noise-start baseline; batches are (x1,)).
    mode="warm":  source built from drafts (batches are (draft, x1)) with start `draft` or
                  `noised`, at a fixed t0 or, when the net is t0-conditioned, t0 ~ U[t0_range].
    `pairing` couples source and data in each batch (independent, minibatch_ot; `nearest`
    pairs come precomputed in the batches).
    """

    def __init__(
        self, net: nn.Module, *, mode: str = "noise", start: str = "noised",
        pairing: str = "independent", t0: float = 0.0, t0_range: tuple[float, float] | None = None,
        lr: float = 2e-3, ema_decay: float = 0.999, max_steps: int = 5000,
    ) -> None:
        super().__init__(net, mode=mode, start=start, t0=t0, t0_range=t0_range, lr=lr, ema_decay=ema_decay,
                         max_steps=max_steps)
        self.pairing = pairing

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Mean squared error between net(x_t, t[, t0]) and the path's target velocity."""
        if self.mode == "noise":
            (x1,) = batch
            noise = torch.randn_like(x1)
            x1 = pair(self.pairing, noise, x1)
            t0 = torch.zeros(x1.shape[0], dtype=x1.dtype, device=x1.device)
            x_t0 = noise
        else:
            draft, x1 = batch
            x1 = pair(self.pairing, draft, x1)
            t0 = self.draw_t0(x1.shape[0], dtype=x1.dtype, device=x1.device)
            x_t0 = warm_start_state(draft, torch.randn_like(draft), t0, self.start)
        t = sample_times(x1.shape[0], t0).to(x1)
        x_t, u = linear_path(x_t0, x1, t, t0)
        v = self.net(x_t, t, t0) if self.conditioned else self.net(x_t, t)
        # Weight by (1 - t0)^2, i.e. the error of the implied x1 = x_t0 + (1 - t0) v: targets
        # scale as 1 / (1 - t0), and unweighted, the highest t0 in a range would dominate.
        # For the noise path (t0 = 0) the weight is 1: plain conditional FM.
        weight = (1 - t0).pow(2)
        return (weight * (v - u).pow(2).flatten(1).sum(dim=1)).mean()
