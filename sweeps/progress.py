"""Progress display: trials done, time per trial, and the arm's current front (cost, quality).

A line per finished trial always (a piped log stays whole); on a terminal also a tqdm bar per
arm with its ETA, which the lines scroll above."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable

from lightning_modules.core.cost import STALLED
from lightning_modules.core.progress import use_bars


class Progress:
    def __init__(self, arm: str, metric: str, cost_axis: str, done: list[dict],
                 cost_of: Callable[[dict], float], log=print) -> None:  # noqa: ANN001
        self.arm, self.metric, self.cost_axis, self.cost_of, self.log = arm, metric, cost_axis, cost_of, log
        self.points = [(cost_of(r), r["quality"][metric]) for r in done if r.get("state") == "COMPLETE"]
        self.n_done = len(done)
        self.n_failed = sum(r.get("state") == "FAIL" for r in done)
        self.total = self.todo = 0
        self.t_start = time.perf_counter()
        self.n_new = 0
        self.bar = None

    def start(self, total: int, todo: int) -> None:
        self.total, self.todo = total, todo
        resumed = f", {self.n_done} already done" if self.n_done else ""
        self.log(f"[{self.arm}] {todo} trial(s) to run of {total}{resumed}")
        self.t_start = time.perf_counter()
        if self.log is print and todo and use_bars():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=self.n_done, desc=f"[{self.arm}]", unit="trial", file=sys.stdout,
                            ncols=shutil.get_terminal_size().columns, nrows=shutil.get_terminal_size().lines, leave=False)
            self.log = self.bar.write  # lines scroll above the bar

    def front(self) -> list[tuple[float, float]]:
        best = float("inf")
        out = []
        for cost, q in sorted(self.points):
            if q < best:
                out.append((cost, q))
                best = q
        return out

    def add(self, record: dict) -> None:
        self.n_done += 1
        self.n_new += 1
        per_trial = (time.perf_counter() - self.t_start) / self.n_new
        params = record.get("params", {})  # the method's declared knobs and the swept keys
        knobs = " ".join(f"{k.split('.')[-1]}={params[k]}" for k in record.get("knobs", [])
                         if params.get(k) is not None)
        if record["state"] == "COMPLETE":
            q = record["quality"][self.metric]
            self.points.append((self.cost_of(record), q))
            result = f"{self.metric}={q:.4g} nfe={record['cost']['nfe']:g}"
            share = record["cost"].get("cpu_share")
            if share is not None and share < STALLED:  # the machine or another process held it up
                result += f" (timing suspect: {share:.0%} of a core while timed)"
        else:
            self.n_failed += 1
            result = f"FAILED: {record.get('error', '')[:120]}"
        front = " ".join(f"({c:.3g}, {q:.3g})" for c, q in self.front()[:6])
        eta = per_trial * max(0, self.total - self.n_done)
        self.log(f"[{self.arm}] {self.n_done}/{self.total} {knobs} {result} | {per_trial:.1f} s/trial, "
                 f"ETA {_clock(eta)} | front [{self.cost_axis}, {self.metric}]: {front}")
        self._advance()

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.points:
                self.bar.set_postfix_str(f"best {self.metric} {min(q for _, q in self.points):.4g}", refresh=True)

    def skipped(self, record: dict) -> None:
        self.log(f"[{self.arm}] trial with these params already recorded (trial {record.get('trial')}); reused")
        if self.bar is not None:
            self.bar.update(1)  # a slot of this arm's budget, used

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar, self.log = None, print
        failed = f", {self.n_failed} failed" if self.n_failed else ""
        self.log(f"[{self.arm}] done: {self.n_done} trial(s){failed}")


def _clock(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
