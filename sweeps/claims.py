"""Many processes on one Optuna study: who creates it, who enqueues the grid, who runs what.

- The study is created once (`create_new_study` is atomic in every storage); its creator
  enqueues the arm's grid points, in grid order, then marks the study (GRID_READY). Others
  wait for the mark; if the creator died while enqueuing, one of them (the one that creates
  the repair study, again atomic) enqueues the missing points.
- A process claims a WAITING trial by moving it to RUNNING (`set_trial_state_values`, which
  refuses a trial another process took): every grid point runs once across workers.
- A trial of a dead process is failed and re-enqueued by Optuna's heartbeat machinery after
  the grace period, or at once when the process was on this host and its pid is gone.
- TPE / NSGA-II: the arm's `n_trials` is a budget of the study, shared by all workers and
  exact: a trial asked past it (two workers racing for the last one) is closed unrun.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
import warnings
import zlib

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, fail_stale_trials, is_heartbeat_enabled
from optuna.trial import TrialState

GRID_READY = "wsbench:grid_enqueued"
HOST, PID = "wsbench:host", "wsbench:pid"
OVER_BUDGET = "wsbench:over_budget"  # asked by a worker that raced past the budget: never run
ENQUEUE_WAIT_S = 10.0  # enqueuing a grid takes well under a second on any storage


def open_study(storage, name: str, directions: list[str], sampler) -> tuple[optuna.Study, bool]:  # noqa: ANN001
    """(the study, whether this process created it)."""
    try:
        optuna.create_study(study_name=name, storage=storage, directions=directions, sampler=sampler)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler), created


def _point(params: dict, keys: list[str]) -> tuple:
    return tuple((k, round(v, 12) if isinstance(v, float) else v) for k, v in
                 ((k, params.get(k)) for k in keys))


def grid_of(study: optuna.Study) -> str | None:
    """The hash of the grid the study was enqueued with (None: not yet marked)."""
    return study._storage.get_study_system_attrs(study._study_id).get(GRID_READY)


def enqueue_grid(study: optuna.Study, points: list[dict], created: bool, *, grid: str = "",
                 log=print) -> None:  # noqa: ANN001
    """Make sure every grid point is in the study once: enqueued by its creator, or repaired
    by one process (`grid`, a hash of the arm's whole grid, marks the study when done)."""
    marked = study._storage.get_study_system_attrs(study._study_id).get(GRID_READY)
    if marked == grid:
        return
    if created:
        for point in points:
            study.enqueue_trial(point, skip_if_exists=False)
        study._storage.set_study_system_attr(study._study_id, GRID_READY, grid)
        return
    deadline = time.monotonic() + ENQUEUE_WAIT_S
    while marked is None and time.monotonic() < deadline:
        time.sleep(0.2)
        marked = study._storage.get_study_system_attrs(study._study_id).get(GRID_READY)
    if marked == grid:
        return
    # Its creator stopped while enqueuing: one process (the one that creates this grid's repair
    # study, an atomic step) enqueues the missing points.
    try:
        optuna.create_study(study_name=f"{study.study_name}~grid-{grid}", storage=study._storage)
    except optuna.exceptions.DuplicatedStudyError:
        while study._storage.get_study_system_attrs(study._study_id).get(GRID_READY) != grid:
            time.sleep(0.5)
        return
    keys = list(points[0]) if points else []
    present = {_point(t.params or t.system_attrs.get("fixed_params", {}), keys)
               for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)}
    missing = [p for p in points if _point(p, keys) not in present]
    log(f"[{study.study_name}] grid not fully enqueued by its creator: enqueuing {len(missing)} missing point(s)")
    for point in missing:
        study.enqueue_trial(point, skip_if_exists=False)
    study._storage.set_study_system_attr(study._study_id, GRID_READY, grid)


def claim_waiting(study: optuna.Study) -> optuna.Trial | None:
    """A WAITING trial (an enqueued grid point or a retry) moved to RUNNING by this process,
    or None when there is none left to take."""
    storage = study._storage
    for frozen in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if not storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                continue  # another process took it first
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        return _mine(study, frozen._trial_id)
    return None


def ask_new(study: optuna.Study, budget: int) -> optuna.Trial | None:
    """A new trial from the study's sampler (TPE / NSGA-II), or None when the budget is spent.
    Trial numbers are given out atomically, so the first `budget` counted trials run and a
    later one, asked by a worker that raced past the budget, is closed unrun (OVER_BUDGET)."""
    trial = study.ask()
    if _counted_before(study, trial.number) >= budget:
        study._storage.set_trial_system_attr(trial._trial_id, OVER_BUDGET, True)
        study.tell(trial.number, state=TrialState.FAIL)
        return None
    _mark(study, trial._trial_id)
    return trial


def _counted(trials: list) -> list:
    replaced = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in trials if t.number not in replaced and not t.system_attrs.get(OVER_BUDGET)]


def _counted_before(study: optuna.Study, number: int) -> int:
    return sum(1 for t in _counted(study.get_trials(deepcopy=False)) if t.number < number)


def _mine(study: optuna.Study, trial_id: int) -> optuna.Trial:
    _mark(study, trial_id)
    trial = optuna.Trial(study, trial_id)
    study.sampler.before_trial(study, study._storage.get_trial(trial_id))
    return trial


def _mark(study: optuna.Study, trial_id: int) -> None:
    study._storage.set_trial_system_attr(trial_id, HOST, socket.gethostname())
    study._storage.set_trial_system_attr(trial_id, PID, os.getpid())


def give_back(study: optuna.Study, trial: optuna.Trial) -> None:
    """An interrupted trial (Ctrl-C): failed, and enqueued again as a retry (as a dead worker's)."""
    storage = study._storage
    study.tell(trial.number, state=TrialState.FAIL)
    callback = storage.get_heartbeat_stale_trial_callback() if isinstance(storage, BaseHeartbeat) else None
    if callback is not None:
        callback(study, storage.get_trial(trial._trial_id))


def budget_used(study: optuna.Study) -> int:
    """Trials that count against the arm's n_trials: all but the stale ones a retry replaces
    and the unrun ones asked past the budget."""
    return len(_counted(study.get_trials(deepcopy=False)))


def running_elsewhere(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if t.system_attrs.get(PID) != os.getpid() or t.system_attrs.get(HOST) != socket.gethostname())


def recover(study: optuna.Study) -> list[int]:
    """Fail (and so retry) the trials of dead processes: heartbeat older than the grace period
    (any host), or at once when their process was on this host and is gone. Returns the
    numbers of the trials failed here."""
    storage = study._storage
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    with warnings.catch_warnings():  # "experimental" since Optuna 2.9: the mechanism the issue asks for
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)
    host = socket.gethostname()
    callback = storage.get_heartbeat_stale_trial_callback() if isinstance(storage, BaseHeartbeat) else None
    grace = getattr(storage, "grace_period", None) or 60
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.system_attrs.get(PID)
        if pid is None:
            # Killed between its claim and its mark (no pid, no heartbeat yet): stale once it
            # has been RUNNING for the grace period.
            start = t.datetime_start  # aware (journal) or naive local time (database)
            if start is None or (datetime.datetime.now(start.tzinfo) - start).total_seconds() <= grace:
                continue
        elif t.system_attrs.get(HOST) != host or pid == os.getpid() or alive(int(pid)):
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL) and callback is not None \
                    and is_heartbeat_enabled(storage):
                callback(study, storage.get_trial(t._trial_id))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process failed it first (and ran the callback)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    return sorted(after - before)


def alive(pid: int) -> bool:
    """Whether a process of this host is running (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def worker_seed(seed: int, *, owner: bool) -> int:
    """The owner (`wsbench sweep`) samples with the sweep's seed; each worker with its own, so
    two workers never propose the same points."""
    if owner:
        return seed
    return (seed + 1 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())) % (2**31)
