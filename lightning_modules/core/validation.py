"""The validation loss every step-trained model shares: `val_loss(batch)` on fixed held-out
batches, logged as val/loss beside train/loss."""

from __future__ import annotations

import torch

VAL_SEED = 7_919  # the validation loss's draws (times, noise, latents), apart from the training's


class ValidationLoss:
    """Mix into a LightningModule (before it) that defines `val_loss(batch) -> scalar`."""

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        # Its own draws from a fixed seed inside a forked RNG: validating never moves the
        # training's random stream, so a model trains the same with or without it.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(VAL_SEED + batch_idx)
            loss = self.val_loss(batch)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=batch[0].shape[0])


def held_out(*val: torch.Tensor, batch_size: int, n_batches: int = 4):  # noqa: ANN201
    """Fixed validation batches drawn once from held-out tensors `val` (same at every check)."""
    from lightning_modules.data.toy import FixedBatches, RandomBatches

    return FixedBatches(RandomBatches(*val, batch_size=batch_size, seed=VAL_SEED), n=n_batches)
