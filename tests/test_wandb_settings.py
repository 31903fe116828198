"""W&B as its users set it up: the WANDB_* variables honoured (with `logger.*` values winning),
WANDB_MODE=disabled writes nothing, and a real offline trial run holds the full config, the
CIs and the floors (read back from the run's own datastore)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from wandb_records import offline_runs

from sweeps.errors import ConfigError
from sweeps.wandb_settings import wandb_settings


def _logger(**keys):
    base = {"name": "wandb", "project": None, "entity": None, "mode": None, "dir": None, "group": None,
            "tags": [], "log_samples": True}
    return OmegaConf.create({**base, **keys})


def test_defaults_without_variables(tmp_path):
    got = wandb_settings(_logger(), tmp_path, "study", environ={})
    assert got == {"mode": "offline", "project": "wsbench", "entity": None, "dir": str(tmp_path),
                   "group": "study", "tags": []}


def test_variables_fill_what_the_config_leaves_null(tmp_path):
    env = {"WANDB_MODE": "online", "WANDB_PROJECT": "x", "WANDB_ENTITY": "lab", "WANDB_DIR": "/w",
           "WANDB_RUN_GROUP": "g", "WANDB_TAGS": "a, b,,a"}
    got = wandb_settings(_logger(tags=["paper", "a"]), tmp_path, "study", environ=env)
    assert got == {"mode": "online", "project": "x", "entity": "lab", "dir": "/w", "group": "g",
                   "tags": ["paper", "a", "b"]}


def test_a_value_set_in_the_config_wins_over_the_variable(tmp_path):
    env = {"WANDB_MODE": "online", "WANDB_PROJECT": "x"}
    got = wandb_settings(_logger(mode="offline", project="mine"), tmp_path, "s", environ=env)
    assert (got["mode"], got["project"]) == ("offline", "mine")


def test_disabled_from_either_side_and_logger_none_switch_it_off(tmp_path):
    assert wandb_settings(_logger(), tmp_path, "s", environ={"WANDB_MODE": "disabled"}) is None
    assert wandb_settings(_logger(mode="disabled"), tmp_path, "s", environ={"WANDB_MODE": "online"}) is None
    assert wandb_settings(OmegaConf.create({"name": "none"}), tmp_path, "s", environ={"WANDB_MODE": "online"}) is None


def test_a_bad_mode_is_one_line_naming_its_source(tmp_path):
    with pytest.raises(ConfigError, match=r"^WANDB_MODE='loud' is not allowed: one of offline, online, disabled, "
                                          r"shared, dryrun, run$"):
        wandb_settings(_logger(), tmp_path, "s", environ={"WANDB_MODE": "loud"})
    # W&B's older names still work
    assert wandb_settings(_logger(), tmp_path, "s", environ={"WANDB_MODE": "dryrun"})["mode"] == "offline"
    assert wandb_settings(_logger(), tmp_path, "s", environ={"WANDB_MODE": "run"})["mode"] == "online"


SWEEP = ["experiment=smoke", "logger=wandb", "sweep.study=wb",
         "sweep.arms={ws:{set:[method=warm_start,drafter=gmm,drafter.n_components=4,refiner.pairing=minibatch_ot],"
         "space:{}}}"]


def _sweep(monkeypatch, tmp_path, **env):
    from sweeps.study import run_study

    for var in ("WANDB_DIR", "WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_GROUP", "WANDB_TAGS",
                "WANDB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    run_dir = tmp_path / "run"
    run_study([*SWEEP, f"sweep.run_dir={run_dir}"], log=lambda *a, **k: None)
    return run_dir


def test_wandb_mode_disabled_writes_no_wandb_file(monkeypatch, tmp_path):
    run_dir = _sweep(monkeypatch, tmp_path, WANDB_MODE="disabled")
    assert (run_dir / "trials.jsonl").exists() and (run_dir / "report" / "summary.json").exists()
    assert not list(tmp_path.rglob("*.wandb")) and not (run_dir / "wandb").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_offline_runs_go_to_wandb_project_with_full_config_cis_and_floors(monkeypatch, tmp_path):
    import json

    run_dir = _sweep(monkeypatch, tmp_path, WANDB_PROJECT="x", WANDB_TAGS="paper")
    runs = offline_runs(run_dir)  # no WANDB_DIR: the run folder
    assert [r["job_type"] for r in runs] == ["trial", "confirm", "study"]
    assert {r["project"] for r in runs} == {"x"} and all(r["tags"] == ["paper"] and r["group"] == "wb" for r in runs)
    record = json.loads((run_dir / "trials.jsonl").read_text().splitlines()[0])
    trial = runs[0]
    config, summary = trial["config"], trial["summary"]
    # the whole resolved config: data set, seed, sample count, training budget, evaluator
    assert config["data"]["name"] == "moons" and config["seed"] == record["seed"]
    assert config["eval"]["n_samples"] == record["n_samples"] == 300
    assert config["refiner"]["train"]["steps"] == 60 and config["config_hash"] == record["config_hash"]
    assert config["arm"] == "ws" and config["method"]["name"] == "warm_start"
    metric = record["primary_metric"]
    assert summary[f"quality/{metric}"] == pytest.approx(record["quality"][metric])
    low, high = record["quality"][f"{metric}_ci"]
    assert (summary[f"quality/{metric}_ci_low"], summary[f"quality/{metric}_ci_high"]) == pytest.approx((low, high))
    assert summary[f"floor/{metric}"] == pytest.approx(record["reference_floor"][metric])
    assert summary["cost/nfe"] == record["cost"]["nfe"] and summary["state"] == "COMPLETE"
    assert trial["exit_code"] == 0
    # the study run holds the report's figures and every model's curve as a chart
    study = runs[-1]["summary"]
    assert {study[f"figures/{f}/_type"] for f in ("front_nfe", "front_wallclock", "learning_curves")} == {"image-file"}
    (model,) = {k.split("/")[1] for k in study if k.startswith("curves/")}  # its one trained refiner
    assert model.startswith("refiner-") and study[f"curves/{model}/train/loss_table/_type"] == "table-file"


def test_a_bad_wandb_mode_stops_the_sweep_before_anything_is_written(monkeypatch, workdir, capsys):
    from sweeps.cli import main

    monkeypatch.setenv("WANDB_MODE", "loud")
    assert main(["sweep", "experiment=smoke", "logger=wandb", "sweep.run_dir=out"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "wsbench: error: WANDB_MODE='loud' is not allowed: one of offline, online, disabled, shared, dryrun, run"
    assert not (workdir / "out").exists()
