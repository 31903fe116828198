"""Resumable training: Lightning's checkpoints plus what they leave out.

Lightning's checkpoint holds weights, optimiser, scheduler, loop counters and the module's
buffers (our EMA copy included). It does not hold the global RNG (noise and times drawn in the
training step) or the data position of our endless batch iterator; `RNGState` saves the
former, and `resume_point` tells the iterator how many batches to replay, so a training killed
after a checkpoint and resumed ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

LAST = "last.ckpt"
_PLACE = contextvars.ContextVar("checkpoints", default=(None, 0))


@contextlib.contextmanager
def checkpointing(folder: Path | None, every_n_steps: int):
    """Trainings started inside checkpoint into `folder` (and resume from it); the folder is
    removed when the block ends normally, since the finished model is then in the cache."""
    token = _PLACE.set((folder, every_n_steps))
    try:
        yield
    finally:
        _PLACE.reset(token)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def current() -> tuple[Path | None, int]:
    return _PLACE.get()


class RNGState(L.Callback):
    """The global torch, numpy and Python RNG states, saved in and restored from checkpoints
    (as tensors and plain numbers, so the checkpoint still loads with `weights_only=True`)."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:  # noqa: ANN001
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        version, words, gauss_next = random.getstate()
        checkpoint["wsbench_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
            "python": [version, torch.tensor(words, dtype=torch.int64), gauss_next],
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:  # noqa: ANN001
        state = checkpoint.get("wsbench_rng")
        if not state:
            return
        torch.set_rng_state(state["torch"])
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        version, words, gauss_next = state["python"]
        random.setstate((version, tuple(int(w) for w in words.tolist()), gauss_next))


def callbacks(folder: Path, every_n_steps: int) -> list[L.Callback]:
    """A checkpoint every `every_n_steps` optimiser steps, kept as `folder/last.ckpt`."""
    return [ModelCheckpoint(dirpath=folder, filename=LAST.removesuffix(".ckpt"), every_n_train_steps=every_n_steps,
                            save_top_k=1, enable_version_counter=False), RNGState()]


def resume_point(folder: Path | None) -> tuple[Path | None, int]:
    """(the checkpoint to resume from, the optimiser steps it holds), or (None, 0)."""
    if folder is None or not (Path(folder) / LAST).exists():
        return None, 0
    path = Path(folder) / LAST
    step = int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    return path, step
