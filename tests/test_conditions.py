"""Timings belong to their conditions: host, device, torch threads and code are part of every
trial's identity and record, and a resumed sweep never mixes timings taken under others."""

from __future__ import annotations

import json

import pytest

from sweeps import study as study_mod
from sweeps import versions
from sweeps.config import compose
from sweeps.errors import ConfigError
from sweeps.identity import trial_hash

SMOKE = ["experiment=smoke", "sweep.arms={d: {set: [method=drafter_only], space: {}}}"]


def _lines(run_dir):
    """The search trials' lines (a picked setting's confirmation on fresh seeds is left out)."""
    return [x for x in (run_dir / "trials.jsonl").read_text().splitlines() if not json.loads(x).get("confirm")]


def test_conditions_change_the_trial_identity(monkeypatch):
    cfg = compose([])
    base = trial_hash(cfg)
    assert trial_hash(compose(["threads=2"])) != base
    monkeypatch.setattr(versions.socket, "gethostname", lambda: "another-host")
    assert trial_hash(cfg) != base
    monkeypatch.undo()
    monkeypatch.setattr(versions, "code_hash", lambda: "0123456789abcdef")
    assert trial_hash(cfg) != base


def test_records_say_host_device_threads_and_code(workdir):
    study_mod.run_study(SMOKE, log=lambda *_: None)
    rec = json.loads(_lines(workdir / "runs" / "smoke")[0])
    assert {k: rec["cost"][k] for k in ("device", "threads")} == {"device": "cpu", "threads": 1}
    assert rec["cost"]["host"] and rec["versions"]["code"] == versions.code_hash()
    assert len(rec["versions"]["code"]) == 16


def test_a_resumed_sweep_refuses_timings_taken_under_other_conditions(workdir, monkeypatch):
    run_dir = workdir / "runs" / "smoke"
    study_mod.run_study(SMOKE, log=lambda *_: None)
    assert len(_lines(run_dir)) == 1
    written = (run_dir / "trials.jsonl").read_text()
    study_mod.run_study(SMOKE, log=lambda *_: None)  # same conditions: resumes, nothing re-run
    assert (run_dir / "trials.jsonl").read_text() == written
    with pytest.raises(ConfigError, match=r"^sweep\.run_dir=.*\(threads 1 then, 2 now\)"):
        study_mod.run_study([*SMOKE, "threads=2"], log=lambda *_: None)
    monkeypatch.setattr(versions, "code_hash", lambda: "0123456789abcdef")
    with pytest.raises(ConfigError, match=r"code '[0-9a-f]{16}' then, '0123456789abcdef' now"):
        study_mod.run_study(SMOKE, log=lambda *_: None)
    assert (run_dir / "trials.jsonl").read_text() == written  # nothing written by the refused runs
