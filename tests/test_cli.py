"""The command line as a researcher uses it: a help per command, -q, progress lines that
arrive while the sweep runs even when the output is piped."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sweeps.cli import main
from sweeps.progress import _clock

SMOKE = ["experiment=smoke", "eval.n_samples=300"]


@pytest.mark.parametrize(("command", "has", "lacks"), [
    ("sweep", ["usage: wsbench sweep", "--storage", "OVERRIDE", "-q, --quiet"], ["RUN_DIR"]),
    ("analyze", ["usage: wsbench analyze", "RUN_DIR", "--cost-axis"], ["--storage"]),
    ("train", ["usage: wsbench train", "-v, --verbose"], ["--metric"]),
])
def test_each_command_has_its_own_help(capsys, command, has, lacks):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert all(h in out for h in has) and not any(x in out for x in lacks)


def test_quiet_prints_the_table_but_no_progress_lines(workdir, capsys, monkeypatch):
    monkeypatch.setenv("WSBENCH_QUIET", "")  # restored after the test: -q sets it for worker processes
    assert main(["sweep", "-q", *SMOKE]) == 0
    out = capsys.readouterr().out
    assert "s/trial" not in out and "trial(s) to run" not in out
    assert "speed-up vs noise_start[indep]" in out and "wsbench sweep: finished in" in out


def test_progress_lines_say_the_time_left():
    assert [_clock(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_piped_progress_arrives_while_the_sweep_runs(workdir):
    """Block-buffered output arrives all at once when the buffer is flushed at exit; line by
    line, the first trial's line arrives well before the report's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", "sweeps.cli", "sweep", "experiment=smoke",
                             "eval.n_samples=3000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, cwd=workdir)
    arrivals = [(time.perf_counter(), line) for line in proc.stdout]
    assert proc.wait() == 0, "".join(line for _, line in arrivals)[-2000:]
    first_trial = next(t for t, line in arrivals if "s/trial, ETA" in line)
    report = next(t for t, line in arrivals if line.startswith("report written"))
    assert report - first_trial > 0.5


def test_a_training_prints_its_progress_and_eta_unless_quiet(workdir, capfd, monkeypatch):
    monkeypatch.setenv("WSBENCH_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("WSBENCH_QUIET", "")  # restored after the test: -q sets it for worker processes
    args = ["experiment=smoke", "refiner.train.steps=200", "train_workers=1"]
    assert main(["train", *args]) == 0
    lines = [x for x in capfd.readouterr().out.splitlines() if "steps/s, ETA" in x]
    assert any(x.strip().startswith("[refiner ") and "step 200/200 loss" in x for x in lines)
    assert main(["train", "-q", *args, "refiner.train.seed=1"]) == 0  # a new refiner, trained quietly
    assert "steps/s, ETA" not in capfd.readouterr().out and os.environ["WSBENCH_QUIET"] == "1"


def test_on_a_terminal_trainings_and_arms_get_bars_with_eta(workdir):
    """Run under a pseudo-terminal, as a researcher's shell runs it: tqdm bars (carriage
    returns, a step bar per training and a trial bar per arm); the trial lines still print."""
    import pty

    env = {**os.environ, "WSBENCH_CACHE": str(workdir / "cache"), "COLUMNS": "120"}
    env.pop("WSBENCH_QUIET", None)
    leader, follower = pty.openpty()
    # One training process: trainings in the main process get bars (worker processes print lines).
    proc = subprocess.Popen([sys.executable, "-m", "sweeps.cli", "sweep", *SMOKE, "train_workers=1"],
                            stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, env=env, cwd=workdir)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait() == 0
    out = b"".join(chunks).decode(errors="replace")
    assert "\r" in out
    assert "step/s" in out or "s/step" in out  # a training's bar, with its rate
    assert "trial/s" in out or "s/trial]" in out  # an arm's bar
    assert "<" in out  # tqdm's [elapsed<remaining]
    assert "s/trial, ETA" in out  # the per-trial lines, above the bars
