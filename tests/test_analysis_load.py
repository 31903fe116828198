"""Reading trials.jsonl: flattening, errors with line numbers, duplicates, import hygiene."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.load import default_metric, load_trials, metrics_of

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


COMPLETE = {
    "study": "s",
    "arm": "warm_start[gmm16,noised,ot]",
    "trial": 3,
    "state": "COMPLETE",
    "method": "warm_start",
    "params": {"method.t0": 0.8, "method.steps": 2, "refiner.pairing": "minibatch_ot"},
    "quality": {"sw2": 0.031, "sw2_ci": [0.027, 0.036], "energy": 0.0012},
    "reference_floor": {"sw2": 0.006},
    "cost": {"nfe": 2, "flops": 1.3e5, "wallclock_s": 0.012},
    "n_samples": 4000,
}
FAIL = {
    "study": "s",
    "arm": "noise_start[ind]",
    "trial": 0,
    "state": "FAIL",
    "method": "noise_start",
    "error": "boom",
    "quality": {},
    "params": {},
}


def _write(run_dir: Path, lines: list[str]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "trials.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


def test_flattened_columns_and_values(tmp_path):
    frame = load_trials(_write(tmp_path, [json.dumps(FAIL), json.dumps(COMPLETE)]))
    assert frame.shape[0] == 2
    row = frame.iloc[1]
    assert (row["arm"], row["method"], row["trial"], row["state"]) == (
        "warm_start[gmm16,noised,ot]",
        "warm_start",
        3,
        "COMPLETE",
    )
    assert (row["t0"], row["steps"], row["nfe"], row["flops"]) == (0.8, 2, 2, 1.3e5)
    assert row["wallclock"] == pytest.approx(0.012 / 4000)  # seconds per sample
    assert (row["q.sw2"], row["q.sw2_lo"], row["q.sw2_hi"]) == (0.031, 0.027, 0.036)
    assert row["floor.sw2"] == 0.006
    assert math.isnan(row["q.energy_lo"])  # energy has no CI in this record
    failed = frame.iloc[0]
    assert failed["error"] == "boom" and math.isnan(failed["nfe"]) and math.isnan(failed["q.sw2"])
    assert metrics_of(frame) == ["sw2", "energy"]
    assert default_metric(frame) == "sw2"


def test_primary_metric_field_wins(tmp_path):
    record = dict(COMPLETE, primary_metric="energy")
    assert default_metric(load_trials(_write(tmp_path, [json.dumps(record)]))) == "energy"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trials.jsonl in run folder"):
        load_trials(tmp_path)


def test_malformed_line_names_its_number(tmp_path):
    run = _write(tmp_path, [json.dumps(COMPLETE), "", '{"arm": "x", "trial": ', json.dumps(FAIL)])
    with pytest.raises(ValueError, match=r"trials\.jsonl:3: malformed JSON"):
        load_trials(run)
    run = _write(tmp_path, [json.dumps(COMPLETE), "[1, 2]"])
    with pytest.raises(ValueError, match=r":2: expected a JSON object"):
        load_trials(run)


def test_duplicate_arm_trial_keeps_last_and_warns(tmp_path):
    second = dict(COMPLETE, quality={"sw2": 0.5})
    run = _write(tmp_path, [json.dumps(COMPLETE), json.dumps(FAIL), json.dumps(second)])
    with pytest.warns(UserWarning, match="more than once, keeping the last"):
        frame = load_trials(run)
    assert len(frame) == 2
    assert frame.loc[frame["arm"] == COMPLETE["arm"], "q.sw2"].tolist() == [0.5]


def test_import_pulls_no_torch_or_lightning():
    code = (
        "import sys, analysis, analysis.plots, analysis.report;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'lightning', 'pytorch_lightning'));"
        "print(','.join(bad))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == ""
