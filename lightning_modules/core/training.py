"""One way to train any of our LightningModules for a fixed step budget."""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping

from lightning_modules.core import checkpoints, device
from lightning_modules.core.curve_log import CurveRows
from lightning_modules.core.progress import callbacks as progress_callbacks


def fit(
    module: L.LightningModule, batches: Iterable, *, max_steps: int, seed: int,
    accelerator: str | None = None,
    checkpoint_dir: Path | None = None, checkpoint_every: int | None = None, val_batches: Iterable | None = None,
    early_stop: int = 0, precision: str = "32-true",
) -> dict:
    """Train `module` for `max_steps` optimiser steps; returns {steps, final_loss, seconds,
    curve (the logged losses as CSV text), resumed_from (steps, or 0)}.
    The accelerator follows the trial's device (`device.training_on`) unless given. With
    `checkpoint_dir` and `checkpoint_every` > 0, a checkpoint every that many steps, and a
    training that finds one there resumes from it (`batches.skip` replays the data position).
    `val_batches` (a finite iterable, e.g. FixedBatches): the module's validation loss, about
    20 times per training, logged as val/loss beside train/loss. `early_stop` > 0 (with
    val_batches): stop after that many checks without a better val/loss; `stopped_by` says
    whether the budget or the plateau ended the training. `precision`: Lightning's, e.g.
    "bf16-mixed" (autocast; the weights and optimiser state stay fp32)."""
    accelerator = accelerator or device.accelerator()
    if checkpoint_every is None:  # where the caller (the model store) asked for checkpoints
        checkpoint_dir, checkpoint_every = checkpoints.current()
    L.seed_everything(seed, workers=True, verbose=False)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # The curve: about 200 points whatever the budget, kept in checkpoints (resumes whole).
    curve = CurveRows(max_steps)
    saving = checkpoint_dir is not None and checkpoint_every > 0
    # Resuming needs the data position: only batches that can replay it (RandomBatches).
    saving = saving and hasattr(batches, "skip")
    resume, done = checkpoints.resume_point(checkpoint_dir if saving else None)
    if resume is not None:
        batches.skip = done
    trainer = L.Trainer(
        max_steps=max_steps, accelerator=accelerator, devices=1, logger=False, precision=precision,
        enable_checkpointing=saving, enable_model_summary=False, enable_progress_bar=False,
        num_sanity_val_steps=0,
        callbacks=[curve, *(checkpoints.callbacks(checkpoint_dir, checkpoint_every) if saving else []),
                   *progress_callbacks(max_steps),
                   *([EarlyStopping("val/loss", patience=early_stop)] if early_stop and val_batches else [])],
        **_validation(val_batches, max_steps),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Our endless in-memory batches have no length; Lightning warns about that, harmlessly.
        warnings.simplefilter("ignore")
        trainer.fit(module, train_dataloaders=batches, val_dataloaders=val_batches, ckpt_path=resume)
    seconds = time.perf_counter() - start
    module.eval()
    return {
        "steps": int(trainer.global_step),
        "final_loss": curve.last,
        "seconds": seconds,
        "curve": curve.csv(),
        "resumed_from": done,
        "stopped_by": "budget" if trainer.global_step >= max_steps else "plateau",
    }


def _validation(val_batches: Iterable | None, max_steps: int) -> dict:
    """Trainer arguments: no validation, or about 20 checks over the training."""
    if val_batches is None:
        return {"limit_val_batches": 0}
    return {"limit_val_batches": len(val_batches), "val_check_interval": max(1, max_steps // 20),
            "check_val_every_n_epoch": None}


def check_finite(loss: torch.Tensor, what: str, step: int) -> None:
    """Stop training on a NaN/inf loss; the sweep records the trial as FAIL with this message."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite {what} loss {loss.item()} at step {step}")


def warmup_cosine(optimizer: torch.optim.Optimizer, max_steps: int) -> dict:
    """Lightning's scheduler dict: a short linear warm-up, then cosine decay to 5% of lr
    (converges without tuning per data set)."""
    warmup = max(1, max_steps // 50)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), "interval": "step"}
