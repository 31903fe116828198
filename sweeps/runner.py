"""The sweep loop: one Optuna study per arm, ask/tell, one record per finished trial.

Resume: finished trials are read back from trials.jsonl (the source of truth), so a re-run
recomputes nothing and writes no duplicate; a trial killed mid-way left no record and is
run again (its stale RUNNING Optuna trial, or a grid point it had enqueued, is closed as FAIL first).

Confirmations (`confirm`): a picked setting re-evaluated on fresh seeds after the search, written
as a record with `confirm: true` and `confirm_of` (the picked trial), never told to Optuna and
never counted as a search trial.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import traceback
from pathlib import Path

import optuna
import torch
from omegaconf import DictConfig

from lightning_modules.core.registry import METHODS
from lightning_modules.metrics._common import split_boot
from sweeps.arms import Arm
from sweeps.config import with_params
from sweeps.progress import Progress
from sweeps.results import TrialStore
from sweeps.storage import make_sampler
from sweeps.trial import Evaluator, knob_values, method_knobs, trial_hash
from sweeps.versions import conditions, versions

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Confirmations run at seed + this offset: a prime far above any sweep's seed, so their
# per-sample noise and drafts share nothing with the search's.
CONFIRM_SEED_OFFSET = 1_000_003

COST_OF = {
    "nfe": lambda rec: rec["cost"]["nfe"],
    "wallclock": lambda rec: rec["cost"]["wallclock_s"] / rec["n_samples"],
    "flops": lambda rec: rec["cost"]["flops"],
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _suggest(trial: optuna.Trial, key: str, spec: object) -> object:
    if isinstance(spec, list):
        return trial.suggest_categorical(key, spec)
    low, high = spec["low"], spec["high"]
    if isinstance(low, int) and isinstance(high, int) and not spec.get("float", False):
        return trial.suggest_int(key, low, high, step=spec.get("step", 1), log=spec.get("log", False))
    return trial.suggest_float(key, float(low), float(high), step=spec.get("step"), log=spec.get("log", False))


class SweepRunner:
    def __init__(self, cfg: DictConfig, arms: list[Arm], run_dir: Path, storage, evaluator: Evaluator,  # noqa: ANN001
                 logger, *, worker: bool = False, log=print) -> None:  # noqa: ANN001
        self.cfg, self.arms, self.run_dir = cfg, arms, run_dir
        self.storage, self.evaluator, self.logger = storage, evaluator, logger
        self.worker, self.log = worker, log
        self.store = TrialStore(run_dir)
        self.metric = cfg.eval.primary_metric
        self.cost_axis = cfg.sweep.cost_axis

    def study_name(self, arm: Arm) -> str:
        return f"{self.cfg.sweep.study}:{arm.name}"

    def run(self) -> None:
        for arm in self.arms:
            self.run_arm(arm)

    def run_arm(self, arm: Arm) -> None:
        s = self.cfg.sweep
        study = optuna.create_study(
            study_name=self.study_name(arm), storage=self.storage, load_if_exists=True,
            directions=["minimize", "minimize"], sampler=make_sampler(s.sampler, s.seed),
        )
        if not self.worker:
            # A single-process sweep owns its study: RUNNING trials are leftovers of a kill.
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            # A kill between enqueue_trial and ask leaves a WAITING point; ask() would pop it
            # before the one enqueued next, and that next grid point would never run.
            for _ in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
                study.tell(study.ask().number, state=optuna.trial.TrialState.FAIL)
        done = [r for r in self.store.records() if r.get("arm") == arm.name and not r.get("confirm")]
        progress = Progress(arm.name, self.metric, self.cost_axis, done, COST_OF[self.cost_axis], self.log)
        if s.sampler == "grid":
            seen = {_point_key(r.get("params", {}), arm.space) for r in done}
            todo = [p for p in arm.grid() if _point_key(p, arm.space) not in seen]
            progress.start(total=len(arm.grid()), todo=len(todo))
            for point in todo:
                study.enqueue_trial(point, skip_if_exists=False)
                self._one(study, arm, progress)
        else:
            n_total = s.n_trials or 20
            todo = max(0, n_total - len(done))
            progress.start(total=n_total, todo=todo)
            for _ in range(todo):
                self._one(study, arm, progress)
        progress.finish()

    def _record(self, arm: Arm, number: int) -> dict:
        spec = METHODS.get(arm.cfg.method.name)
        return {"study": self.cfg.sweep.study, "arm": arm.name, "trial": number, "state": "FAIL",
                "track": str(arm.cfg.track), "role": spec.role, "method": spec.name, "params": {},
                "knobs": list(dict.fromkeys(method_knobs(arm.cfg, columns_only=True) + list(arm.space))),
                "primary_metric": self.metric, "sampler": self.cfg.sweep.sampler, "seed": int(self.cfg.seed),
                "n_samples": int(arm.cfg.eval.n_samples), "started": _now(), "versions": versions()}

    def _evaluate_into(self, record: dict, cfg: DictConfig):  # noqa: ANN202
        """Evaluate cfg and fill the record; the replicates go to `quality_boot`."""
        torch.set_num_threads(int(cfg.threads))
        ev = self.evaluator.evaluate(cfg)
        ev.quality, boot = split_boot(ev.quality)
        record.update(state="COMPLETE", quality=ev.quality, quality_boot=boot, reference_floor=ev.floor,
                      cost={**ev.cost, **conditions(cfg)}, train=ev.train, **ev.fields)
        return ev

    def confirm(self, arm: Arm, picked: dict) -> dict:
        """Re-evaluate the picked record's setting on fresh seeds (seed + CONFIRM_SEED_OFFSET) and
        append it as a confirmation record; a finished confirmation of the same setting is
        returned as it is. No samples are saved (the search trial's stay as they are)."""
        params = {k: picked["params"][k] for k in arm.space if k in picked.get("params", {})}
        seed = int(arm.cfg.seed) + CONFIRM_SEED_OFFSET
        cfg = with_params(with_params(arm.cfg, params), {"seed": seed})
        chash = trial_hash(cfg, self.evaluator.identity(cfg))
        for rec in self.store.records():
            if rec.get("confirm") and rec.get("arm") == arm.name and rec.get("config_hash") == chash:
                return rec
        t_start = time.perf_counter()
        record = self._record(arm, picked["trial"]) | {"confirm": True, "confirm_of": picked["trial"], "seed": seed,
                                                        "params": knob_values(cfg, list(params)), "config_hash": chash}
        ev = None
        try:
            ev = self._evaluate_into(record, cfg)
            _check_finite(record)
        except Exception as err:  # noqa: BLE001 - recorded; the table then says it was not confirmed
            record.update(state="FAIL", error=f"{err.__class__.__name__}: {err}".splitlines()[0][:500])
            for key in ("quality", "quality_boot", "reference_floor", "cost", *(ev.fields if ev else ())):
                record.pop(key, None)
        record["finished"] = _now()
        record["seconds"] = round(time.perf_counter() - t_start, 3)
        self.store.append(record)
        return record

    def _one(self, study: optuna.Study, arm: Arm, progress: Progress) -> None:
        trial = study.ask()
        t_start = time.perf_counter()
        record = self._record(arm, trial.number)
        ev = None
        try:
            # Inside the try: a bad search range (low > high) fails this trial, not the sweep.
            params = {key: _suggest(trial, key, dist) for key, dist in arm.space.items()}
            cfg = with_params(arm.cfg, params)
            record["params"] = knob_values(cfg, list(params))
            record["config_hash"] = chash = trial_hash(cfg, self.evaluator.identity(cfg))
            previous = self.store.find(arm.name, chash)
            if previous is not None:  # same point already finished (e.g. TPE proposed it again)
                self._tell(study, trial.number, previous)
                progress.skipped(previous)
                return
            ev = self._evaluate_into(record, cfg)
            _check_finite(record)
            record["samples_path"], record["drafts_path"] = self.evaluator.save_samples(
                self.run_dir, arm.name, trial.number, ev, cfg)
        except KeyboardInterrupt:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            raise
        except Exception as err:  # noqa: BLE001 - any failure is recorded and the sweep goes on
            record.update(state="FAIL", error=f"{err.__class__.__name__}: {err}".splitlines()[0][:500],
                          traceback=traceback.format_exc(limit=4)[-2000:])
            for key in ("quality", "quality_boot", "reference_floor", "cost", "samples_path", "drafts_path",
                        *(ev.fields if ev else ())):
                record.pop(key, None)
        record["finished"] = _now()
        record["seconds"] = round(time.perf_counter() - t_start, 3)
        self.store.append(record)
        self._tell(study, trial.number, record)
        progress.add(record)
        self.logger.trial(record, ev, arm.cfg)

    def _tell(self, study: optuna.Study, number: int, record: dict) -> None:
        if record["state"] == "COMPLETE":
            study.tell(number, [record["quality"][self.metric], COST_OF[self.cost_axis](record)])
        else:
            study.tell(number, state=optuna.trial.TrialState.FAIL)


def _point_key(params: dict, space: dict) -> tuple:
    return tuple((k, _norm(params.get(k))) for k in space)


def _norm(v: object) -> object:
    return round(v, 12) if isinstance(v, float) else v


def _check_finite(record: dict) -> None:
    for key, value in record["quality"].items():
        values = value if isinstance(value, list) else [value]
        if any(not math.isfinite(v) for v in values):
            raise FloatingPointError(f"quality {key} is not finite: {value}")


