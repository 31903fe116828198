"""A training's curve, recorded by a callback whose rows ride in its checkpoints: a resumed
training's curve starts at step 0 and equals the uninterrupted one's.

Rows: step (the batch index, as Lightning's loggers count), train/loss every `every` steps,
val/loss at each validation check. Lightning calls this callback's `on_train_batch_end` before
ModelCheckpoint's (checkpoint callbacks run last), so a checkpoint holds the row of its step.
"""

from __future__ import annotations

import io
import math

import lightning as L
import torch

COLUMNS = ("train/loss", "val/loss")


def step_loss(trainer, outputs) -> float | None:  # noqa: ANN001
    """This step's training loss: what training_step returned, else its logged train/loss. A
    module need not `self.log` its loss every step (Lightning's log costs ~1 ms a call: a
    sixth of a toy flow model's step)."""
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if isinstance(outputs, torch.Tensor):
        return float(outputs.detach())
    value = trainer.callback_metrics.get("train/loss")
    return None if value is None else float(value)


class CurveRows(L.Callback):
    def __init__(self, max_steps: int, points: int = 200) -> None:
        self.every = max(1, max_steps // points)
        self.rows: dict[int, dict[str, float]] = {}
        self.last: float | None = None  # the latest step's training loss

    def _put(self, step: int, name: str, value: object) -> None:
        if value is not None:
            self.rows.setdefault(step, {})[name] = float(value)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        step = trainer.global_step - 1
        self.last = step_loss(trainer, outputs)
        if step % self.every == 0 or trainer.global_step >= trainer.max_steps:
            self._put(step, "train/loss", self.last)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        if not trainer.sanity_checking:
            self._put(trainer.global_step - 1, "val/loss", trainer.callback_metrics.get("val/loss"))

    def state_dict(self) -> dict:
        # Plain lists of numbers: checkpoints still load with weights_only=True.
        steps = sorted(self.rows)
        return {"steps": steps, **{c: [self.rows[s].get(c, math.nan) for s in steps] for c in COLUMNS}}

    def load_state_dict(self, state: dict) -> None:
        self.rows = {}
        for i, step in enumerate(state.get("steps", [])):
            for c in COLUMNS:
                if not math.isnan(state[c][i]):
                    self._put(step, c, state[c][i])

    def csv(self) -> str | None:
        """The curve as CSV text (step, train/loss, then val/loss when validated), or None."""
        if not self.rows:
            return None
        columns = [c for c in COLUMNS if any(c in r for r in self.rows.values())]
        out = io.StringIO()
        out.write(",".join(["step", *columns]) + "\n")
        for step in sorted(self.rows):
            out.write(",".join([str(step), *(_num(self.rows[step].get(c)) for c in columns)]) + "\n")
        return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)
