"""End-to-end sweeps on the smoke experiment: records, cache, resume, failures, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps import study as study_mod
from sweeps.cli import main
from sweeps.errors import ConfigError
from sweeps.trial import Evaluator

SMOKE = ["experiment=smoke"]


def _records(run_dir: Path) -> list[dict]:
    """The search trials (confirmations of the picked settings are tested in test_confirm.py)."""
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if not r.get("confirm")]


def test_smoke_sweep_writes_records_report_and_counts_nfe(workdir):
    summary = study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke"
    recs = _records(run_dir)
    assert len(recs) == 3 + 4 + 1 and all(r["state"] == "COMPLETE" for r in recs)
    for r in recs:
        cost = r["cost"]
        assert set(cost) >= {"nfe", "evals", "networks", "drafter", "drafter_nfe_equiv", "flops", "wallclock_s",
                             "drafter_s", "refiner_s", "peak_mem_bytes", "peak_mem_scope"}
        assert set(r["quality"]) >= {"hist_tv", "hist_tv_ci", "sw2", "energy"}
        steps = r["params"]["method.steps"]
        expected = 0 if r["method"] == "drafter_only" else steps  # euler: one evaluation per step
        assert cost["evals"] == expected
        # The NFE axis holds the drafter too, in units of the method's largest network.
        if r["method"] == "drafter_only":
            assert cost["nfe"] == 1.0 and cost["networks"] == {}
        else:
            (net,) = cost["networks"].values()
            assert net["evals_per_sample"] == expected
            assert cost["nfe"] == pytest.approx(expected + cost["drafter_nfe_equiv"])
            assert cost["flops"] == pytest.approx(net["flops_per_sample"] + cost["drafter_flops"])
        assert (run_dir / r["samples_path"]).exists()
        assert r["versions"]["torch"] and len(r["config_hash"]) == 16
    warm = [r for r in recs if r["method"] == "warm_start"]
    assert {r["params"]["method.t0"] for r in warm} == {0.5, 0.8}
    # Every record says what it is: its track, its role and the method's declared knobs.
    assert {r["track"] for r in recs} == {"points"}
    assert {(r["arm"], r["role"]) for r in recs} == {
        ("noise_start[indep]", "baseline"), ("warm_start[gmm4]", "method"), ("drafter_only[gmm4]", "drafter")}
    knobs = {r["arm"]: r["knobs"] for r in recs}
    assert knobs["warm_start[gmm4]"] == ["method.t0", "method.steps", "method.solver"]  # tolerances: params only
    assert {"method.rtol", "method.atol"} <= set(recs[0]["params"])
    assert knobs["drafter_only[gmm4]"] == [] and "method.t0" not in knobs["noise_start[indep]"]
    t0 = {r["method"]: r["params"]["method.t0"] for r in recs if r["method"] != "warm_start"}
    assert t0 == {"noise_start": 0.0, "drafter_only": 1.0}  # DESIGN.md: the drafter alone sits at t0 = 1
    assert set(recs[0]["metric_info"]) == {"hist_tv", "sw2", "energy"}
    assert all(r["train"]["refiner"]["steps"] == 60 for r in warm)
    assert summary["baseline"] == "noise_start[indep]"
    for name in ("summary.json", "front_nfe.png", "front_nfe.pdf", "front_wallclock.png", "speedup.md", "speedup.tex"):
        assert (run_dir / "report" / name).exists(), name


def test_rerun_recomputes_nothing_and_trains_nothing(workdir, monkeypatch):
    study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke"
    before = (run_dir / "trials.jsonl").read_text()
    calls = []
    monkeypatch.setattr(Evaluator, "evaluate", lambda self, cfg: calls.append(cfg) or 1 / 0)
    lines = []
    study_mod.run_study(SMOKE, log=lines.append)
    assert calls == [] and (run_dir / "trials.jsonl").read_text() == before
    assert not any("training" in line for line in lines)


def test_models_are_trained_once_and_loaded_from_cache(workdir, monkeypatch):
    monkeypatch.setenv("WSBENCH_CACHE", str(workdir / "cache"))
    lines = []
    study_mod.run_study(SMOKE + ["sweep.study=a"], log=lines.append)
    trained = [line for line in lines if line.strip().startswith("training ")]
    assert len(trained) == 3  # noise model, drafter (shared by two arms), refiner (once for 4 trials)
    lines.clear()
    study_mod.run_study(SMOKE + ["sweep.study=b"], log=lines.append)  # new study, same models
    assert not any(line.strip().startswith("training ") for line in lines)


def test_interrupted_sweep_resumes_and_keeps_finished_trials(workdir, monkeypatch):
    real = Evaluator.evaluate
    seen = []

    def flaky(self, cfg):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(self, cfg)

    monkeypatch.setattr(Evaluator, "evaluate", flaky)
    with pytest.raises(KeyboardInterrupt):
        study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke"
    assert len(_records(run_dir)) == 2
    monkeypatch.setattr(Evaluator, "evaluate", real)
    study_mod.run_study(SMOKE, log=lambda *_: None)
    recs = _records(run_dir)
    keys = [(r["arm"], r["config_hash"]) for r in recs]
    assert len(recs) == 8 and len(set(keys)) == 8


def test_t0_outside_the_refiners_range_stops_before_any_compute(workdir, tmp_path):
    cache = tmp_path / "fresh-cache"
    overrides = SMOKE + ["sweep.space={method.t0: [0.3, 0.8], method.steps: [1]}", f"cache_dir={cache}"]
    with pytest.raises(ConfigError, match=r"^method\.t0=0\.3 is not allowed: in refiner\.t0_range \[0\.5, 0\.95\]"):
        study_mod.run_study(overrides, log=lambda *_: None)
    assert not (workdir / "runs" / "smoke" / "trials.jsonl").exists()
    assert not cache.exists() or not any(cache.iterdir())  # nothing trained
    tpe = SMOKE + ["sweep=tpe", "sweep.space={method.t0: {low: 0.2, high: 0.9}}", f"cache_dir={cache}"]
    with pytest.raises(ConfigError, match=r"^method\.t0=0\.2 "):  # a range end outside is caught too
        study_mod.run_study(tpe, log=lambda *_: None)


def test_nan_loss_is_recorded_as_failed(workdir):
    nan = SMOKE + ["refiner.train.lr=1e12", "sweep.study=nan"]
    study_mod.run_study(nan, log=lambda *_: None)
    recs = _records(workdir / "runs" / "nan")
    trained = [r for r in recs if r["method"] in ("noise_start", "warm_start")]
    assert trained and all(r["state"] == "FAIL" for r in trained)
    assert any("non-finite" in r["error"] for r in trained)
    assert [r["state"] for r in recs if r["method"] == "drafter_only"] == ["COMPLETE"]


@pytest.mark.parametrize("bad", ["method.t0=1.5", "method.steps=0", "method.name=nope", "data.name=nope"])
def test_cli_bad_input_exits_nonzero_with_one_line_and_no_trial(workdir, capsys, bad):
    code = main(["sweep", *SMOKE, bad])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and bad.split("=")[0] in err
    assert not (workdir / "runs" / "smoke" / "trials.jsonl").exists()


def test_cli_broken_storage_url_stops_before_compute(workdir, capsys):
    code = main(["sweep", *SMOKE, "--storage", "notadb://nowhere"])
    assert code == 2 and "sweep.storage" in capsys.readouterr().err
    assert not (workdir / "runs" / "smoke" / "trials.jsonl").exists()


def test_killed_sweep_process_resumes_to_a_complete_study(workdir):
    env = dict(os.environ)
    # A kill inside a journal write leaves Optuna's lock: broken after 2 s here, not the default 30.
    cmd = [sys.executable, "-m", "sweeps.cli", "sweep", *SMOKE, "eval.timing_repeats=3", "sweep.lock_grace_s=2"]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jsonl = workdir / "runs" / "smoke" / "trials.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(jsonl.read_text().splitlines())
    assert 2 <= n_before < 8
    subprocess.run(cmd, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300)
    recs = _records(workdir / "runs" / "smoke")
    assert len(recs) == 8 and len({(r["arm"], r["config_hash"]) for r in recs}) == 8


def test_journal_lock_left_by_a_killed_run_is_broken_after_its_grace_period_not_before(workdir, monkeypatch):
    # What a SIGKILL inside a journal write leaves: Optuna's lock symlink. It may as well be a
    # live worker's, so it is never deleted at start-up: Optuna breaks it once the journal has
    # not changed for the grace period.
    run_dir = workdir / "runs" / "smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "optuna.journal").touch()
    os.symlink((run_dir / "optuna.journal").resolve(), run_dir / "optuna.journal.lock")
    start = time.monotonic()
    study_mod.run_study([*SMOKE, "sweep.lock_grace_s=2"], report=False, log=lambda *_: None)
    assert time.monotonic() - start >= 2
    assert len(_records(run_dir)) == 8
    assert not (run_dir / "optuna.journal.lock").is_symlink()


def test_a_study_whose_every_trial_fails_exits_1_with_the_first_error(workdir, capsys):
    # A learning rate of 1e12 makes the refiner's training loss non-finite: every trial fails.
    code = main(["sweep", *SMOKE, "sweep.arms={w: {set: [method=warm_start]}}", "sweep.space={method.t0: [0.8]}",
                 "refiner.train.lr=1e12", "sweep.study=allfail"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "all 1 trial(s) failed" in err[0] and "non-finite" in err[0]
    assert len(_records(workdir / "runs" / "allfail")) == 1


def test_a_grid_half_enqueued_by_a_killed_creator_is_repaired_once(workdir, monkeypatch):
    # The study's creator killed while enqueuing its grid: one point in the study, no mark.
    # The next process waits for the mark, then enqueues the missing points itself.
    import optuna

    from sweeps import claims
    from sweeps.arms import build_arms
    from sweeps.storage import make_storage

    monkeypatch.setattr(claims, "ENQUEUE_WAIT_S", 0.5)
    _, arms = build_arms(SMOKE)
    arm = next(a for a in arms if len(a.grid()) > 1)
    storage = make_storage(None, workdir / "runs" / "smoke")
    study = optuna.create_study(study_name=f"smoke:{arm.name}", storage=storage, directions=["minimize"] * 2)
    study.enqueue_trial(arm.grid()[0], skip_if_exists=False)
    lines = []
    study_mod.run_study(SMOKE, report=False, log=lines.append)
    recs = _records(workdir / "runs" / "smoke")
    assert len(recs) == 8 and len({(r["arm"], r["config_hash"]) for r in recs}) == 8
    assert any(f"enqueuing {len(arm.grid()) - 1} missing point(s)" in line for line in lines)
    mine = optuna.load_study(study_name=f"smoke:{arm.name}", storage=storage)
    assert not mine.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(mine.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == len(arm.grid())
