"""What a training shows while it runs: a tqdm bar with ETA on a terminal, a line at every
tenth of the budget when the output is piped (a log file stays readable) or when the training
runs in a worker process (bars of several processes would overwrite each other).
WSBENCH_QUIET (`wsbench -q`) silences both."""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import shutil
import sys
import time

import lightning as L

from lightning_modules.core.curve_log import step_loss

_LABEL = contextvars.ContextVar("training_label", default=None)


@contextlib.contextmanager
def labelled(label: str):
    """Trainings started inside show their progress under `label`."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def use_bars(stream=None) -> bool:  # noqa: ANN001
    """Bars only for a terminal, in the main process, and not under -q."""
    stream = stream or sys.stdout
    return (not os.environ.get("WSBENCH_QUIET") and multiprocessing.parent_process() is None
            and hasattr(stream, "isatty") and stream.isatty())


def callbacks(max_steps: int) -> list[L.Callback]:
    """The progress callback of a training started here: a bar, lines, or none."""
    label = _LABEL.get()
    if label is None or os.environ.get("WSBENCH_QUIET"):
        return []
    return [TrainingBar(label, max_steps) if use_bars() else ProgressLines(label, max_steps)]


def _loss(trainer, outputs) -> str:  # noqa: ANN001
    loss = step_loss(trainer, outputs)
    return f"{loss:.4g}" if loss is not None else "-"


class ProgressLines(L.Callback):
    """A line at every tenth of the budget: step, loss, steps/s, ETA."""

    def __init__(self, label: str, max_steps: int) -> None:
        self.label, self.max_steps = label, max_steps
        self.every = max(1, max_steps // 10)

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.start, self.first = time.perf_counter(), trainer.global_step
        self.next = (self.first // self.every + 1) * self.every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        step = trainer.global_step
        if step < self.next:
            return
        self.next += self.every
        rate = (step - self.first) / max(1e-9, time.perf_counter() - self.start)
        eta = (self.max_steps - step) / rate if rate > 0 else 0.0
        print(f"  [{self.label}] step {step}/{self.max_steps} loss {_loss(trainer, outputs)} | {rate:.0f} steps/s, "
              f"ETA {eta:.0f}s", flush=True)


class TrainingBar(L.Callback):
    """A tqdm bar over the step budget (a resumed training starts part-filled), loss as postfix."""

    def __init__(self, label: str, max_steps: int) -> None:
        self.label, self.max_steps = label, max_steps
        self.bar = None

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.max_steps, initial=trainer.global_step, desc=f"  {self.label}", unit="step",
                        leave=False, ncols=shutil.get_terminal_size().columns, nrows=shutil.get_terminal_size().lines, file=sys.stdout)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if self.bar is not None:
            self.bar.update(trainer.global_step - self.bar.n)
            if trainer.global_step % 20 == 0:
                self.bar.set_postfix_str(f"loss {_loss(trainer, outputs)}", refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:  # noqa: ANN001
        self.on_train_end(trainer, pl_module)
