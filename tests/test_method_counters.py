"""Method counters: named per-sample statistics a method reports reach cost["counters"] as
plain floats, and the W&B trial summary as counters/<name>, whatever their names."""

from __future__ import annotations

import json
import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from lightning_modules.core.cost import measure
from lightning_modules.core.method import Method, SampleBatch
from sweeps.wandb_log import WandbLogger, trial_summary


class Passes(Method):
    """A Linear applied `passes` times; reports its passes and the tokens each pass commits."""

    name = "passes"

    def __init__(self, counters: dict | None = None, passes: int = 3) -> None:
        torch.manual_seed(0)
        self.block, self.passes = nn.Linear(4, 4), passes
        self.reported = {"block_passes": passes, "tokens_per_pass": torch.tensor(8 / passes)} \
            if counters is None else counters

    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        x = torch.ones(n, 4)
        for _ in range(self.passes):
            x = self.block(x)
        return x, float(self.passes), self.reported


class Plain(Passes):
    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        return super().refine(drafts, n, seed)[:2]  # the usual (samples, nfe)


def test_a_methods_counters_reach_the_cost_as_plain_floats():
    batch = measure(Passes(), 6, 0, repeats=1)
    counters = batch.cost["counters"]
    assert counters == {"block_passes": 3.0, "tokens_per_pass": pytest.approx(8 / 3)}
    assert all(type(v) is float for v in counters.values())  # a tensor or an int became a float
    assert json.loads(json.dumps(batch.cost["counters"])) == counters  # the record is JSON
    assert batch.counters["block_passes"] == 3 and batch.cost["networks"]["block"]["calls"] == 3


def test_a_method_without_counters_has_an_empty_section():
    batch = measure(Plain(), 6, 0, repeats=1)
    assert batch.counters == {} and batch.cost["counters"] == {}
    a, b = SampleBatch(torch.zeros(1), None, 0.0), SampleBatch(torch.zeros(1), None, 0.0)
    a.counters["x"] = 1.0
    assert b.counters == {}  # a fresh dict per batch


@pytest.mark.parametrize(("counters", "error", "match"), [
    ({"tokens_per_pass": math.nan}, ValueError, r"method 'passes' reported counter tokens_per_pass=nan"),
    ({"block_passes": torch.tensor(math.inf)}, ValueError, r"counter block_passes=.*finite"),
    ({"block_passes": torch.ones(3)}, ValueError, r"one finite number"),
    ({"block_passes": "many"}, ValueError, r"block_passes='many'"),
    ({3: 1.0}, TypeError, r"counter named 3: counter names are str"),
])
def test_a_bad_counter_is_a_clear_error(counters, error, match):  # noqa: ANN001
    with pytest.raises(error, match=match):
        measure(Passes(counters), 4, 0, repeats=1)


def _logger(tmp_path):  # noqa: ANN001, ANN202
    cfg = OmegaConf.create({"logger": {"name": "wandb", "project": "wsbench", "entity": None, "mode": "offline",
                                       "log_samples": False}, "sweep": {"study": "s"}})
    messages: list[str] = []
    return WandbLogger(cfg, tmp_path / "run", log=messages.append), messages


def test_the_wandb_summary_carries_every_counter_by_its_own_name(tmp_path, fake_wandb):
    record = {"arm": "passes", "trial": 0, "state": "COMPLETE", "method": "passes",
              "cost": measure(Passes(), 6, 0, repeats=1).cost}
    summary = trial_summary(record)
    assert summary["counters/block_passes"] == 3.0
    assert summary["counters/tokens_per_pass"] == pytest.approx(8 / 3)
    assert not any(k.startswith("cost/counters") for k in summary)  # one place, not two
    assert summary["cost/networks/block/calls"] == 3  # the rest of the cost as before
    logger, messages = _logger(tmp_path)
    logger.trial(record, None)
    run = fake_wandb[-1]
    assert messages == [] and run.exit_code == 0
    assert run.summary["counters/tokens_per_pass"] == pytest.approx(8 / 3)
    assert run.logged[0]["counters/block_passes"] == 3.0
    # No counters: no counters/ keys.
    plain = {**record, "cost": measure(Plain(), 6, 0, repeats=1).cost}
    assert not any(k.startswith("counters/") for k in trial_summary(plain))


class Waits(Plain):
    """Sleeps in its timed runs (what a paused machine or a process holding the CPU looks like)."""

    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        import time

        time.sleep(0.15)
        return super().refine(drafts, n, seed)


class Busy(Plain):
    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        import time

        end = time.perf_counter() + 0.15
        while time.perf_counter() < end:
            pass
        return super().refine(drafts, n, seed)


def test_each_timed_run_records_its_cpu_time_and_a_waiting_run_is_flagged():
    from lightning_modules.core.cost import STALLED
    from sweeps.progress import Progress

    waited = measure(Waits(), 4, seed=0, repeats=2).cost
    busy = measure(Busy(), 4, seed=0, repeats=2).cost
    assert len(waited["cpu_runs_s"]) == len(busy["cpu_runs_s"]) == 2
    assert waited["cpu_share"] < 0.2 < STALLED < 0.8 < busy["cpu_share"]
    lines = []
    progress = Progress("a", "m", "nfe", [], cost_of=lambda r: r["cost"]["nfe"], log=lines.append)
    progress.start(2, 2)
    for cost in (waited, busy):
        progress.add({"state": "COMPLETE", "params": {}, "knobs": [], "quality": {"m": 1.0}, "cost": cost})
    assert "timing suspect" in lines[1] and "timing suspect" not in lines[2]
