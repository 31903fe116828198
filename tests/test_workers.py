"""Several processes on one study, as researchers run them: `wsbench worker` processes started
together on a journal file or a real PostgreSQL server, one of them killed, a `wsbench sweep`
joining mid-trial. Every grid point runs once, nothing is lost, live work is left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from analysis.records import read_records

# Trials of about a second (8,000 samples), so workers overlap and a kill lands mid-trial.
SLOW = ["experiment=smoke", "eval.n_samples=8000", "eval.timing_repeats=3", "sweep.confirm=false",
        "sweep.heartbeat_s=1", "sweep.grace_s=4"]


def _cli(command: str, overrides: list[str], storage: str | None) -> list[str]:
    return [sys.executable, "-m", "sweeps.cli", command, "-q", *overrides, *(["--storage", storage] if storage else [])]


@pytest.fixture()
def trained(workdir):
    """The smoke models in the session's cache (trained in this process once, then found), so
    the workers only sample (trainings are tested elsewhere)."""
    from sweeps.study import train_only

    train_only(["experiment=smoke"], log=lambda *_: None)
    return workdir


@pytest.fixture()
def storage(request):
    """None: the journal file in the run folder; else a fresh PostgreSQL database. Each test
    names its storages (`_storages`): the default suite runs each multi-process test on one,
    alternating, and `make test-slow` on the other too (the suite stays under 10 minutes)."""
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def _storages(default: str):  # noqa: ANN202
    other = "postgres" if default == "journal" else "journal"
    return pytest.mark.parametrize("storage", [default, pytest.param(other, marks=pytest.mark.slow)],
                                   indirect=True)


def _search_records(run_dir: Path) -> list[dict]:
    return [r for r in read_records(run_dir) if not r.get("confirm")]


def _studies(storage: str | None, run_dir: Path) -> dict[str, list]:
    from sweeps.storage import make_storage

    store = make_storage(storage, run_dir)
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=store).get_trials()
            for s in optuna.get_all_study_summaries(store) if "~" not in s.study_name}


def _grid_done_once(run_dir: Path, storage: str | None) -> list[dict]:
    """Every grid point COMPLETE once in the storage and recorded once; returns the records."""
    recs = _search_records(run_dir)
    assert len(recs) == 8 and len({(r["arm"], json.dumps(r["params"], sort_keys=True)) for r in recs}) == 8
    assert all(r["state"] == "COMPLETE" for r in recs)
    studies = _studies(storage, run_dir)
    complete = {(name.split(":", 1)[1], t.number) for name, trials in studies.items() for t in trials
                if t.state == optuna.trial.TrialState.COMPLETE}
    assert complete == {(r["arm"], r["trial"]) for r in recs}  # the storage and the records agree
    assert not any(t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
                   for trials in studies.values() for t in trials)
    return recs


@_storages("journal")
def test_two_workers_started_together_run_every_grid_point_once(trained, storage):
    # twice SLOW's samples: under load one worker's start-up could outlast the whole grid
    longer = [o if not o.startswith("eval.n_samples=") else "eval.n_samples=16000" for o in SLOW]
    procs = [subprocess.Popen(_cli("worker", longer, storage), cwd=trained, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    run_dir = trained / "runs" / "smoke"
    recs = _grid_done_once(run_dir, storage)
    assert len({r["worker"]["pid"] for r in recs}) == 2  # both took part
    assert len(list(run_dir.glob("trials.*.jsonl"))) == 2  # one results file per worker
    assert all(r["cost"]["load"]["concurrent"] in (0, 1) for r in recs)
    # The owner then finds nothing to run and writes the report from the merged files.
    sweep = subprocess.run(_cli("sweep", longer, storage), cwd=trained, capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr
    assert len(_search_records(run_dir)) == 8 and (run_dir / "report" / "summary.json").exists()
    # Trials timed while the other worker computed are counted and named under the table.
    load = json.loads((run_dir / "report" / "summary.json").read_text())["timing_load"]
    assert load["n_under_load"] == sum(r["cost"]["load"]["concurrent"] > 0 for r in recs)
    assert ("Timed under load" in sweep.stdout) == (load["n_under_load"] > 0)


def test_workers_told_to_time_alone_never_time_under_load(trained):
    procs = [subprocess.Popen(_cli("worker", [*SLOW, "sweep.time_alone=true"], None), cwd=trained,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    recs = _grid_done_once(trained / "runs" / "smoke", None)
    assert len({r["worker"]["pid"] for r in recs}) == 2
    assert all(r["cost"]["load"] == {"concurrent": 0, "timed_alone": True} for r in recs)


def test_tpe_runs_the_studys_budget_in_all_across_workers(trained, pg_url):
    tpe = [*SLOW, "sweep=tpe", "sweep.n_trials=6", "eval.n_samples=4000",
           "sweep.arms={w: {set: [method=warm_start, drafter=gmm, drafter.n_components=4, "
           "refiner.pairing=minibatch_ot]}}", "sweep.space={method.t0: {low: 0.5, high: 0.8}}"]
    procs = [subprocess.Popen(_cli("worker", tpe, pg_url), cwd=trained, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    recs = _search_records(trained / "runs" / "smoke")
    assert len(recs) == 6 and len({r["config_hash"] for r in recs}) == 6
    (trials,) = _studies(pg_url, trained / "runs" / "smoke").values()
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 6


def _wait_for_running(storage: str | None, run_dir: Path, pid: int, deadline: float = 120) -> tuple[str, int]:
    """(arm, trial number) of the first trial seen RUNNING in process `pid`."""
    end = time.time() + deadline
    while time.time() < end:
        try:
            for name, trials in _studies(storage, run_dir).items():
                for t in trials:
                    if t.state == optuna.trial.TrialState.RUNNING and t.system_attrs.get("wsbench:pid") == pid:
                        return name.split(":", 1)[1], t.number
        except Exception:  # noqa: BLE001 - the study may not exist yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never ran a trial")


@_storages("postgres")
def test_a_worker_killed_mid_trial_is_retried_by_the_other_and_nothing_is_lost(trained, storage):
    run_dir = trained / "runs" / "smoke"
    victim = subprocess.Popen(_cli("worker", SLOW, storage), cwd=trained, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    _wait_for_running(storage, run_dir, victim.pid)
    survivor = subprocess.Popen(_cli("worker", SLOW, storage), cwd=trained, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out = survivor.communicate(timeout=300)[0]
    assert survivor.returncode == 0, out
    recs = _grid_done_once(run_dir, storage)
    retried = [r for r in recs if r.get("retry_of")]
    assert len(retried) == 1 and retried[0]["worker"]["pid"] == survivor.pid  # the killed trial, once


@_storages("journal")
def test_a_sweep_started_while_a_worker_is_mid_trial_leaves_that_trial_alone(trained, storage):
    """The worker is paused (SIGSTOP) inside its trial while the sweep starts: the sweep runs the
    other points, waits for the live worker's trial instead of failing it, and finishes once
    the resumed worker has told it."""
    run_dir = trained / "runs" / "smoke"
    patient = [*SLOW, "sweep.grace_s=120"]  # a paused worker is alive: no heartbeat expiry here
    worker = subprocess.Popen(_cli("worker", patient, storage), cwd=trained, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    arm, number = _wait_for_running(storage, run_dir, worker.pid)
    lock = run_dir / "optuna.journal.lock"
    for _ in range(1000):  # pause it outside a journal write (a stalled writer's lock is broken after 30 s)
        worker.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        if not lock.is_symlink():
            break
        worker.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    try:
        cmd = [a for a in _cli("sweep", patient, storage) if a != "-q"]
        sweep = subprocess.Popen(cmd, cwd=trained, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in sweep.stdout:
            lines.append(line)
            if "waiting for 1 trial(s) running in other processes" in line:
                break
    finally:
        worker.send_signal(signal.SIGCONT)
    rest = sweep.communicate(timeout=300)[0]
    out = worker.communicate(timeout=300)[0]
    assert sweep.returncode == 0 and worker.returncode == 0, ("".join(lines) + rest, out)
    assert "Traceback" not in out and "failed by another process" not in out
    recs = _grid_done_once(run_dir, storage)
    assert not any(r.get("retry_of") for r in recs)  # nothing was failed under the live worker
    (paused,) = [r for r in recs if (r["arm"], r["trial"]) == (arm, number)]
    assert paused["worker"] == {"host": paused["worker"]["host"], "pid": worker.pid, "role": "worker"}
    assert any(r["worker"]["role"] == "sweep" for r in recs)
    assert (run_dir / "report" / "summary.json").exists()


def test_a_stale_heartbeat_from_another_host_fails_and_retries_the_trial(tmp_path):
    from sweeps import claims
    from sweeps.storage import BEAT, make_storage

    storage = make_storage(None, tmp_path, heartbeat_s=1, grace_s=2, max_retry=1)
    study = optuna.create_study(study_name="s", storage=storage, directions=["minimize"] * 2)
    study.enqueue_trial({"x": 1})
    trial = claims.claim_waiting(study)
    storage.set_trial_system_attr(trial._trial_id, claims.HOST, "another-machine")
    storage.set_trial_system_attr(trial._trial_id, BEAT, time.time() - 1)
    assert claims.recover(study) == []  # within the grace period: a live worker's
    storage.set_trial_system_attr(trial._trial_id, BEAT, time.time() - 3)
    assert claims.recover(study) == [trial.number]
    (retry,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert retry.system_attrs["retry_history"] == [trial.number]
    # Its retry dies too: max_retry=1, so it stays failed.
    again = claims.claim_waiting(study)
    storage.set_trial_system_attr(again._trial_id, claims.HOST, "another-machine")
    storage.set_trial_system_attr(again._trial_id, BEAT, time.time() - 3)
    assert claims.recover(study) == [again.number]
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))


def test_metric_names_and_attributes_are_in_the_study(trained):
    subprocess.run(_cli("sweep", ["experiment=smoke", "sweep.confirm=false"], None), cwd=trained, check=True,
                   capture_output=True)
    study = optuna.load_study(study_name="smoke:warm_start[gmm4]",
                              storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
                                  str(trained / "runs" / "smoke" / "optuna.journal"))))
    assert study.metric_names == ["hist_tv", "nfe"]
    assert study.user_attrs["arm"] == "warm_start[gmm4]" and study.user_attrs["primary_metric"] == "hist_tv"
    # each trial: its values with their CIs, floors, costs and key, as the record has them
    records = {r["trial"]: r for r in _search_records(trained / "runs" / "smoke") if r["arm"] == "warm_start[gmm4]"}
    for trial in study.trials:
        record, attrs = records[trial.number], trial.user_attrs
        assert attrs["quality/hist_tv"] == record["quality"]["hist_tv"] == trial.values[0]
        assert [attrs["quality/hist_tv_ci_low"], attrs["quality/hist_tv_ci_high"]] == record["quality"]["hist_tv_ci"]
        assert attrs["floor/hist_tv"] == record["reference_floor"]["hist_tv"]
        assert attrs["cost/nfe"] == record["cost"]["nfe"] and attrs["config_hash"] == record["config_hash"]
        assert attrs["cost/load/concurrent"] == record["cost"]["load"]["concurrent"]  # nested costs flattened


def test_wrong_credentials_or_no_server_stop_with_one_line_before_compute(workdir, pg_server, capsys):
    from sweeps.cli import main

    bad = pg_server.replace("wsbench:wsbench@", "wsbench:not-the-password@")
    dead = "postgresql://wsbench:secret123@127.0.0.1:1/none"
    for url in (bad, dead):
        assert main(["sweep", "experiment=smoke", "--storage", url]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "sweep.storage" in err
        assert "not-the-password" not in err and "secret123" not in err and "***" in err
    assert not (workdir / "runs" / "smoke" / "trials.jsonl").exists()


def test_a_lost_database_is_retried_then_stops_the_worker_with_one_line(trained, monkeypatch, tmp_path):
    """A server of its own, stopped once the worker has written a record."""
    import threading

    import pg_server as pg

    from sweeps import runner
    from sweeps.errors import StorageLost
    from sweeps.study import run_study

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"wsbench-pg-lost-{os.getpid()}"
    url = pg.start(folder)
    monkeypatch.setattr(runner, "STORAGE_RETRIES", 2)
    monkeypatch.setattr(runner, "POLL_S", 0.1)
    run_dir = trained / "runs" / "smoke"

    def stop_after_first_record() -> None:
        end = time.time() + 120
        while time.time() < end and not list(run_dir.glob("trials*.jsonl")):
            time.sleep(0.05)
        pg.stop(folder)

    stopper = threading.Thread(target=stop_after_first_record)
    stopper.start()
    try:
        with pytest.raises(StorageLost) as lost:
            run_study([*SLOW, f"sweep.storage={url}"], worker=True, report=False, log=lambda *_: None)
    finally:
        stopper.join()
        pg.stop(folder)
    message = str(lost.value)
    assert len(message.splitlines()) == 1 and "re-run the same command" in message and "wsbench@" not in message
    assert ":wsbench@" not in message and "***" in message
    recs = _search_records(run_dir)
    assert recs and all(r["state"] == "COMPLETE" for r in recs)  # what finished is kept


def test_a_trial_claimed_by_a_process_killed_before_marking_it_is_retried_after_the_grace_period(tmp_path):
    """A kill between the claim (RUNNING) and the mark (host, pid) leaves a trial no pid or
    heartbeat speaks for: it is stale once RUNNING for the grace period, never waited on forever."""
    from sweeps import claims
    from sweeps.storage import make_storage

    storage = make_storage(None, tmp_path, heartbeat_s=1, grace_s=1, max_retry=1)
    study = optuna.create_study(study_name="s", storage=storage, directions=["minimize"] * 2)
    study.enqueue_trial({"x": 1})
    (waiting,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert storage.set_trial_state_values(waiting._trial_id, state=optuna.trial.TrialState.RUNNING)  # no mark
    assert claims.recover(study) == [] and claims.running_elsewhere(study) == 1
    time.sleep(1.2)
    assert claims.recover(study) == [waiting.number]
    (retry,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert retry.system_attrs["retry_history"] == [waiting.number]


def test_a_heartbeat_thread_losing_the_database_prints_no_traceback(monkeypatch):
    """Optuna's heartbeat thread dies when the database goes away; the worker's one line
    (StorageLost) says so, so that thread's traceback is dropped, and only that one."""
    import threading

    import sqlalchemy.exc

    from sweeps.runner import _quiet_heartbeat_errors

    seen = []

    def previous(args: threading.ExceptHookArgs) -> None:
        seen.append((args.thread.name, args.exc_type))

    monkeypatch.setattr(threading, "excepthook", previous)

    def fail(exc: BaseException) -> None:
        raise exc

    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("the database system is shutting down"))
    with _quiet_heartbeat_errors():
        for name, exc in (("Thread-1 (_record_heartbeat)", lost), ("Thread-2 (_record_heartbeat)", ValueError("bug")),
                          ("Thread-3 (other)", lost)):
            t = threading.Thread(target=fail, args=(exc,), name=name)
            t.start()
            t.join()
    assert seen == [("Thread-2 (_record_heartbeat)", ValueError), ("Thread-3 (other)", sqlalchemy.exc.OperationalError)]
    assert threading.excepthook is previous  # restored
