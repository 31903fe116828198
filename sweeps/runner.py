"""The sweep loop: one Optuna study per arm; each process claims trials and writes one record
per finished trial.

`wsbench sweep` and any number of `wsbench worker` processes run the same loop on one study:
grid points are enqueued once and claimed once (`claims`), TPE/NSGA-II share the arm's trial
budget, a dead process's trial is retried after its heartbeat goes stale (or at once when it
died on this host), and a process with nothing left to claim waits for the trials others
still run (they may come back as retries). Resume is the same loop: a re-run finds its killed
trial's process gone and retries it; a trial whose record was already written (in any results
file of the run folder) is told from the record, never recomputed.

Confirmations (`confirm`): a picked setting re-evaluated on fresh seeds after the search, written
as a record with `confirm: true` and `confirm_of` (the picked trial), never told to Optuna and
never counted as a search trial.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import socket
import threading
import time
import traceback
import warnings
from pathlib import Path

import optuna
import torch
from omegaconf import DictConfig
from optuna.storages._heartbeat import get_heartbeat_thread

from analysis.cost_axes import COST_AXES
from lightning_modules.core.registry import METHODS
from lightning_modules.metrics._common import split_boot
from sweeps import claims, host_load
from sweeps.arms import Arm
from sweeps.config import config_hash, with_params
from sweeps.errors import StorageLost
from sweeps.identity import remember, searching, trial_hash
from sweeps.overrides import primary_baseline
from sweeps.progress import Progress
from sweeps.results import RECORD_FORMAT, TrialStore
from sweeps.storage import make_sampler, masked
from sweeps.trial import Evaluator, knob_values, method_knobs
from sweeps.versions import conditions, versions

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Confirmations run at seed + this offset: a prime far above any sweep's seed, so their
# per-sample noise and drafts share nothing with the search's.
CONFIRM_SEED_OFFSET = 1_000_003

POLL_S = 2.0  # how often a process with nothing to claim looks again while others run trials
STORAGE_RETRIES = 4  # a lost database connection: retried after 2, 4, 8, 16 s, then the worker stops



def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def confirm_n(study: DictConfig, arm: Arm) -> int:
    """Look 1's n: sweep.confirm_n, else the arm's search n."""
    n = study.sweep.get("confirm_n")
    return int(n) if n is not None else int(arm.cfg.eval.n_samples)


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
        self.store = TrialStore(run_dir, worker=worker)
        self.metric = cfg.eval.primary_metric
        self.cost_axis = cfg.sweep.cost_axis
        self.primary = primary_baseline(arms, cfg.sweep.primary_baseline)

    def study_name(self, arm: Arm) -> str:
        return f"{self.cfg.sweep.study}:{arm.name}"

    def run(self) -> None:
        for arm in self.arms:
            self.run_arm(arm)

    def run_arm(self, arm: Arm) -> None:
        s = self.cfg.sweep
        sampler = make_sampler(arm.sampler, claims.worker_seed(int(s.seed), owner=not self.worker))
        study, created = claims.open_study(self.storage, self.study_name(arm), ["minimize", "minimize"], sampler)
        grid = config_hash(arm.grid())
        if arm.sampler == "grid" and not created and claims.grid_of(study) not in (None, grid):
            # The arm's grid changed since: Optuna cannot hold two value sets of one parameter in
            # a study, so the new points go to a study of their own (the records say what is done).
            study, created = claims.open_study(self.storage, f"{self.study_name(arm)}+{grid[:8]}",
                                               ["minimize", "minimize"], sampler)
        if created:  # names and attributes optuna-dashboard shows
            with warnings.catch_warnings():  # "experimental" since Optuna 3.2
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([self.metric, self.cost_axis])
            for key, value in {"arm": arm.name, "track": str(arm.cfg.track), "method": str(arm.cfg.method.name),
                               "primary_metric": self.metric, "cost_axis": self.cost_axis,
                               "sampler": arm.sampler}.items():
                study.set_user_attr(key, value)
        done = [r for r in self.store.records() if r.get("arm") == arm.name and not r.get("confirm")]
        progress = Progress(arm.name, self.metric, self.cost_axis, done, COST_AXES[self.cost_axis], self.log)
        if arm.sampler == "grid":
            seen = {_point_key(r.get("params", {}), arm.space) for r in done}
            todo = [p for p in arm.grid() if _point_key(p, arm.space) not in seen]
            claims.enqueue_grid(study, todo, created, grid=grid, log=self.log)
            total = len(arm.grid())
            progress.start(total=total, todo=len(todo))
        else:
            total = arm.n_trials or 20
            progress.start(total=total, todo=max(0, total - claims.budget_used(study)))
        state = {"waited": False, "total": total}
        failures = 0
        while True:
            try:
                if not self._step(study, arm, progress, state):
                    break
                failures = 0
            except Exception as err:
                if not _storage_lost(err):
                    raise
                failures += 1
                reason = str(err).splitlines()[0][:200] if str(err) else err.__class__.__name__
                if failures > STORAGE_RETRIES:
                    where = masked(str(s.storage)) if s.storage else "the journal file"
                    raise StorageLost(f"lost the study storage {where} ({reason}); every finished trial is in "
                                      f"{self.store.path}; re-run the same command to resume") from None
                self.log(f"[{arm.name}] storage error ({reason}); retry {failures}/{STORAGE_RETRIES} in "
                         f"{2 ** failures} s")
                time.sleep(2 ** failures)
        progress.finish()

    def _step(self, study: optuna.Study, arm: Arm, progress: Progress, state: dict) -> bool:
        """Run one trial, or wait for other processes' trials; False when the arm is done."""
        s = self.cfg.sweep
        for number in claims.recover(study):
            self.log(f"[{arm.name}] trial {number} of a dead worker failed; a retry is enqueued "
                     f"(at most {s.max_retry} per trial)")
        trial = claims.claim_waiting(study)
        if trial is None and arm.sampler != "grid" and claims.budget_used(study) < state["total"]:
            trial = claims.ask_new(study, state["total"])
            if trial is None:
                return True  # another worker took the last of the budget: look again
        if trial is not None:
            self._one(study, arm, progress, trial)
            return True
        others = claims.running_elsewhere(study)
        if not others:
            return False
        if not state["waited"]:  # their trials may still fail and come back as retries
            self.log(f"[{arm.name}] waiting for {others} trial(s) running in other processes")
            state["waited"] = True
        time.sleep(POLL_S)
        return True

    def _record(self, arm: Arm, number: int) -> dict:
        spec, s = METHODS.get(arm.cfg.method.name), self.cfg.sweep
        return {"format": RECORD_FORMAT, "study": self.cfg.sweep.study, "arm": arm.name, "trial": number, "state": "FAIL",
                "track": str(arm.cfg.track), "role": spec.role, "method": spec.name, "family": spec.family, "params": {},
                "knobs": list(dict.fromkeys(method_knobs(arm.cfg, columns_only=True) + list(arm.space))),
                "primary_metric": self.metric, "primary_baseline": self.primary, "sampler": arm.sampler,
                **({"matched": {"on": list(s.matched_on), "delta": float(s.match_delta)}} if s.get("matched_on") else {}),
                **({"budgets": [float(b) for b in s.budgets]} if s.get("budgets") else {}),
                "seed": int(self.cfg.seed),
                "n_samples": int(arm.cfg.eval.n_samples), "started": _now(), "versions": versions(),
                "worker": {"host": socket.gethostname(), "pid": os.getpid(), "role": "worker" if self.worker else "sweep"}}

    def _evaluate_into(self, record: dict, cfg: DictConfig):  # noqa: ANN202
        """Evaluate cfg and fill the record; the replicates go to `quality_boot`."""
        torch.set_num_threads(int(cfg.threads))
        with host_load.busy("trial"):
            ev = self.evaluator.evaluate(cfg)
        ev.quality, boot = split_boot(ev.quality)
        record.update(state="COMPLETE", quality=ev.quality, quality_boot=boot, reference_floor=ev.floor,
                      cost={**ev.cost, **conditions(cfg)}, train=ev.train, **ev.fields)
        return ev

    def confirm(self, arm: Arm, picked: dict, *, look: int = 1, growth: int = 1, rule: dict | None = None) -> dict:
        """Re-evaluate the picked record's setting on fresh seeds (seed + CONFIRM_SEED_OFFSET) at
        ``growth`` times the arm's n (sample i is the same at every n: a look extends the
        previous one's samples) and append it as a confirmation record of look ``look`` under
        ``rule`` (``sweeps.confirm``); a finished confirmation of the same setting is returned as
        it is. No samples are saved (the search trial's stay as they are)."""
        params = {k: picked["params"][k] for k in arm.space if k in picked.get("params", {})}
        seed = int(arm.cfg.seed) + CONFIRM_SEED_OFFSET
        fresh = {"seed": seed, "eval.n_samples": confirm_n(self.cfg, arm) * int(growth)}
        if rule and rule.get("n_boot"):
            fresh["eval.n_boot"] = int(rule["n_boot"])
        cfg = with_params(with_params(arm.cfg, params), fresh)
        chash = trial_hash(cfg, self.evaluator.identity(cfg))
        for rec in self.store.records():
            if rec.get("confirm") and rec.get("arm") == arm.name and rec.get("config_hash") == chash:
                return rec
        t_start = time.perf_counter()
        record = self._record(arm, picked["trial"]) | {
            "confirm": True, "confirm_of": picked["trial"], "seed": seed, "n_samples": fresh["eval.n_samples"],
            "look": int(look), "rule": rule, "fresh": fresh,
            "params": knob_values(cfg, list(params)), "swept": list(params),
            "config_key": remember(self.run_dir, cfg), "config_hash": chash}
        ev = None
        self.logger.begin(record, cfg)
        try:
            ev = self._evaluate_into(record, cfg)
            _check_finite(record)
        except Exception as err:  # noqa: BLE001 - recorded; the table then says it was not confirmed
            _failed(record, err, ev)
        record["finished"] = _now()
        record["seconds"] = round(time.perf_counter() - t_start, 3)
        self.store.append(record)
        self.logger.trial(record, ev, arm.cfg)
        return record

    def _one(self, study: optuna.Study, arm: Arm, progress: Progress, trial: optuna.Trial) -> None:
        t_start = time.perf_counter()
        record = self._record(arm, trial.number)
        retried = study._storage.get_trial_system_attrs(trial._trial_id).get("retry_history")
        if retried:
            record["retry_of"] = list(retried)  # the trials of dead workers this one replaces
        ev = None
        try:
            # Inside the try: a bad search range (low > high) fails this trial, not the sweep.
            params = {key: _suggest(trial, key, dist) for key, dist in arm.space.items()}
            cfg = with_params(searching(arm.cfg), params)
            record["params"], record["swept"] = knob_values(cfg, list(params)), list(params)
            record["config_key"] = remember(self.run_dir, cfg)  # what it ran with (sweeps.identity)
            record["config_hash"] = chash = trial_hash(cfg, self.evaluator.identity(cfg))
            previous = self.store.find(arm.name, chash)
            if previous is not None:  # already finished (TPE proposed it again, or a retry of a trial
                _user_attrs(trial, previous)  # whose worker died after writing its record)
                self._tell(study, trial.number, previous)
                progress.skipped(previous)
                return
            self.logger.begin(record, cfg)  # W&B shows the trial running, with its whole config
            with _quiet_heartbeat_errors(), get_heartbeat_thread(trial._trial_id, study._storage):
                ev = self._evaluate_into(record, cfg)
                _check_finite(record)
                record["samples_path"], record["drafts_path"] = self.evaluator.save_samples(
                    self.run_dir, arm.name, trial.number, ev, cfg)
        except KeyboardInterrupt:
            claims.give_back(study, trial)  # not the trial's failure: a re-run or another worker retries it
            raise
        except Exception as err:  # noqa: BLE001 - any failure is recorded and the sweep goes on
            if _storage_lost(err):
                raise
            _failed(record, err, ev, trace=traceback.format_exc(limit=4)[-2000:])
        record["finished"] = _now()
        record["seconds"] = round(time.perf_counter() - t_start, 3)
        self.store.append(record)  # first the record: a lost storage or a kill after it loses nothing
        _user_attrs(trial, record)
        self._tell(study, trial.number, record)
        progress.add(record)
        self.logger.trial(record, ev, arm.cfg)

    def _tell(self, study: optuna.Study, number: int, record: dict) -> None:
        try:
            if record["state"] == "COMPLETE":
                study.tell(number, [record["quality"][self.metric], COST_AXES[self.cost_axis](record)])
            else:
                study.tell(number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as err:
            if "finished" not in str(err).lower() and "cannot tell" not in str(err).lower():
                raise
            # Failed under us (heartbeat missed for longer than the grace period): its retry
            # finds this record and reuses it instead of computing it again.
            self.log(f"trial {number} was failed by another process while it ran (late heartbeat); "
                     "its record is kept and its retry will reuse it")


def _failed(record: dict, err: BaseException, ev, *, trace: str | None = None) -> None:  # noqa: ANN001
    """Make `record` a FAIL record: its one-line error (and traceback), none of the results
    it had gathered before the failure."""
    record.update(state="FAIL", error=f"{err.__class__.__name__}: {err}".splitlines()[0][:500])
    if trace is not None:
        record["traceback"] = trace
    for key in ("quality", "quality_boot", "reference_floor", "cost", "samples_path", "drafts_path",
                *(ev.fields if ev else ())):
        record.pop(key, None)


def _user_attrs(trial: optuna.Trial, record: dict) -> None:
    """What optuna-dashboard shows beside a trial's objectives: the same flat values as the W&B
    run's summary (quality/<m> with _ci_low/_ci_high, floor/<m>, cost/..., state, seconds,
    error) plus the arm and config hash; numpy scalars made plain, as trials.jsonl has them."""
    from sweeps.results import _plain
    from sweeps.wandb_log import trial_summary

    attrs = {"arm": record["arm"], "config_hash": record.get("config_hash"), **trial_summary(record)}
    attrs = json.loads(json.dumps({k: v for k, v in attrs.items() if v is not None}, default=_plain))
    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
    except (ValueError, TypeError, optuna.exceptions.UpdateFinishedTrialError):  # failed under us: _tell says so
        pass


def _point_key(params: dict, space: dict) -> tuple:
    return tuple((k, _norm(params.get(k))) for k in space)


def _norm(v: object) -> object:
    return round(v, 12) if isinstance(v, float) else v


@contextlib.contextmanager
def _quiet_heartbeat_errors():
    """Optuna's heartbeat thread dies with a traceback when the database goes away mid-trial;
    the trial loop already says so in one line (StorageLost), so that traceback is dropped."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and "_record_heartbeat" in args.thread.name and _storage_lost(args.exc_value):
            return
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


def _storage_lost(err: BaseException | None) -> bool:
    """A database error (connection lost), here or as the cause of Optuna's StorageInternalError:
    not the trial's failure, the worker's."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, optuna.exceptions.StorageInternalError) or any(
                cls.__module__.startswith(("sqlalchemy", "psycopg")) for cls in type(err).__mro__):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _check_finite(record: dict) -> None:
    for key, value in record["quality"].items():
        values = value if isinstance(value, list) else [value]
        if any(not math.isfinite(v) for v in values):
            raise FloatingPointError(f"quality {key} is not finite: {value}")


