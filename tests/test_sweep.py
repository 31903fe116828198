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
from sweeps.trial import Evaluator

SMOKE = ["experiment=smoke"]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def test_smoke_sweep_writes_records_report_and_counts_nfe(workdir):
    summary = study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke"
    recs = _records(run_dir)
    assert len(recs) == 3 + 4 + 1 and all(r["state"] == "COMPLETE" for r in recs)
    for r in recs:
        assert set(r["cost"]) >= {"nfe", "drafter_nfe_equiv", "flops", "wallclock_s", "drafter_s", "refiner_s", "peak_mem_bytes"}
        assert set(r["quality"]) >= {"hist_tv", "hist_tv_ci", "sw2", "energy"}
        steps = r["params"]["method.steps"]
        expected = 0 if r["method"] == "drafter_only" else steps  # euler: one evaluation per step
        assert r["cost"]["nfe"] == expected
        assert (run_dir / r["samples_path"]).exists()
        assert r["versions"]["torch"] and len(r["config_hash"]) == 16
    warm = [r for r in recs if r["method"] == "warm_start"]
    assert {r["params"]["method.t0"] for r in warm} == {0.5, 0.8}
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


def test_bad_knob_combination_and_nan_loss_are_recorded_as_failed(workdir):
    overrides = SMOKE + ["sweep.space={method.t0: [0.3, 0.8], method.steps: [1]}"]
    study_mod.run_study(overrides, log=lambda *_: None)
    recs = {(r["arm"], r["params"].get("method.t0")): r for r in _records(workdir / "runs" / "smoke")}
    failed = recs[("warm_start[gmm4]", 0.3)]
    assert failed["state"] == "FAIL" and "outside refiner.t0_range" in failed["error"]
    assert "quality" not in failed
    assert recs[("warm_start[gmm4]", 0.8)]["state"] == "COMPLETE"

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
    cmd = [sys.executable, "-m", "sweeps.cli", "sweep", *SMOKE, "eval.timing_repeats=3"]
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


def test_journal_lock_left_by_a_killed_run_does_not_block_the_rerun(workdir):
    # What a SIGKILL inside a journal write leaves: Optuna's lock symlink.
    run_dir = workdir / "runs" / "smoke"
    run_dir.mkdir(parents=True)
    os.symlink("runs/smoke/optuna.journal", run_dir / "optuna.journal.lock")
    lines = []
    study_mod.run_study(SMOKE, report=False, log=lines.append)
    assert len(_records(run_dir)) == 8
    assert any("journal lock left by an interrupted run" in line for line in lines)
    assert not (run_dir / "optuna.journal.lock").is_symlink()


def test_a_study_whose_every_trial_fails_exits_1_with_the_first_error(workdir, capsys):
    # t0=0.99 lies outside the refiner's t0_range [0.5, 0.95]: every warm-start trial fails.
    code = main(["sweep", *SMOKE, "sweep.arms={w: {set: [method=warm_start]}}", "sweep.space={method.t0: [0.99]}",
                 "sweep.study=allfail"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "all 1 trial(s) failed" in err[0] and "outside refiner.t0_range" in err[0]
    assert len(_records(workdir / "runs" / "allfail")) == 1
