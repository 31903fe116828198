"""User plugins, loaded with `plugin=FILE.py` from outside the package: a sampling method with
its own knob swept beside noise_start, and a whole fourth track with its own metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sweeps import study as study_mod
from sweeps.cli import main

PLUGINS = Path(__file__).resolve().parent.parent / "conf" / "plugins"
QUIET = {"log": lambda *_: None}


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if not r.get("confirm")]  # search trials only


@pytest.fixture()
def plugin_file(tmp_path):
    """Copy a plugin into a temporary folder outside the package and return its path."""

    def copy(name: str) -> Path:
        folder = tmp_path / "user_code"
        folder.mkdir(exist_ok=True)
        return Path(shutil.copy(PLUGINS / name, folder / name))

    return copy


def test_a_plugin_method_is_swept_beside_noise_start_and_reported(workdir, plugin_file):
    path = plugin_file("warped_grid.py")
    lines: list[str] = []
    summary = study_mod.run_study([
        "experiment=smoke", f"plugin={path}", "sweep.study=warped",
        "+sweep.arms.warped.set=[method=noise_start_warped,refiner.pairing=independent]",
        "+sweep.arms.warped.space={method.steps: [1, 2, 4], method.gamma: [0.7, 1.5]}",
    ], log=lines.append)
    # Progress lines show the declared knobs of each trial, the plugin's own included.
    assert any(line.startswith("[warped] 6/6 steps=4 solver=euler gamma=1.5 hist_tv=") for line in lines)
    run_dir = workdir / "runs" / "warped"
    recs = [r for r in _records(run_dir) if r["arm"] == "warped"]
    assert len(recs) == 6 and all(r["state"] == "COMPLETE" for r in recs)
    assert {r["role"] for r in recs} == {"method"} and {r["method"] for r in recs} == {"noise_start_warped"}
    assert recs[0]["knobs"] == ["method.steps", "method.solver", "method.gamma"]
    assert sorted({(r["params"]["method.steps"], r["params"]["method.gamma"]) for r in recs}) == [
        (1, 0.7), (1, 1.5), (2, 0.7), (2, 1.5), (4, 0.7), (4, 1.5)]
    assert {r["cost"]["nfe"] for r in recs} == {1, 2, 4}  # euler: one evaluation per grid interval
    # gamma changes the grid, so the samples differ at equal steps (same noise, same model).
    q = {(r["params"]["method.steps"], r["params"]["method.gamma"]): r["quality"]["hist_tv"] for r in recs}
    assert q[(4, 0.7)] != q[(4, 1.5)]
    # The report: its arm, its knob as a table column, its speed-up row against the baseline.
    assert "warped" in summary["speedup_at_iso_quality"]["noise_start[indep]"]
    front = (run_dir / "report" / "front.md").read_text()
    speedup = (run_dir / "report" / "speedup.md").read_text()
    assert "gamma" in front.splitlines()[0] and "| warped |" in front
    assert any(line.startswith("| warped |") for line in speedup.splitlines())


def test_a_plugin_method_knob_is_validated_from_its_declaration(workdir, plugin_file, capsys):
    path = plugin_file("warped_grid.py")
    code = main(["sweep", "experiment=smoke", f"plugin={path}", "method=noise_start_warped", "method.gamma=50",
                 "sweep.arms=null", "sweep.space={method.steps: [1]}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "method.gamma=50" in err[0] and "in [0.1, 10]" in err[0]
    assert not (workdir / "runs").exists() or not list((workdir / "runs").rglob("trials.jsonl"))


def test_a_plugin_track_runs_sweep_and_analyze_with_no_package_file_changed(workdir, plugin_file, capsys):
    path = plugin_file("mixtures_1d.py")
    overrides = ["experiment=smoke", f"plugin={path}", "data=mix1d", "eval.metrics=[w1]",
                 "eval.primary_metric=w1", "sweep.study=mix1d"]
    study_mod.run_study(overrides, report=False, **QUIET)
    run_dir = workdir / "runs" / "mix1d"
    recs = _records(run_dir)
    assert len(recs) == 8 and all(r["state"] == "COMPLETE" for r in recs)
    assert {r["track"] for r in recs} == {"mix1d"}
    assert {r["arm"]: r["role"] for r in recs} == {
        "noise_start[indep]": "baseline", "warm_start[gmm4]": "method", "drafter_only[gmm4]": "drafter"}
    assert all(set(r["quality"]) == {"w1", "w1_ci"} and r["reference_floor"]["w1"] > 0 for r in recs)
    assert recs[0]["metric_info"] == {"w1": {"label": "1-D Wasserstein-1", "higher_is_better": False,
                                              "evaluator": False}}
    assert recs[0]["evaluator"] is None  # a track without an evaluator model
    assert main(["analyze", str(run_dir)]) == 0
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert summary["metric"] == "w1" and summary["baseline"] == "noise_start[indep]"
    assert set(summary["front"]) == {"noise_start[indep]", "warm_start[gmm4]", "drafter_only[gmm4]"}
    assert (run_dir / "report" / "front.md").exists() and (run_dir / "report" / "speedup.md").exists()


def test_a_plugin_can_be_an_importable_module_name(tmp_path, monkeypatch):
    from lightning_modules.core.registry import METHODS, load_plugins

    (tmp_path / "my_samplers.py").write_text((PLUGINS / "warped_grid.py").read_text()
                                             .replace('"noise_start_warped"', '"noise_start_warped_mod"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugins("my_samplers") == ["my_samplers"]
    spec = METHODS.get("noise_start_warped_mod")
    assert spec.role == "method" and [k.name for k in spec.knobs] == ["steps", "solver", "gamma"]


def test_list_shows_registered_entries_with_their_knobs(plugin_file, capsys):
    path = plugin_file("warped_grid.py")
    assert main(["list", f"plugin={path}"]) == 0
    out = capsys.readouterr().out
    assert "noise_start_warped role method, t0 zero, kinds vector/image, needs noise_model" in out
    assert "gamma=1.5 (a number in [0.1, 10])" in out
    assert "  text         kind tokens; data.name: shakespeare, text, hf; evaluator models: text_lm" in out


def test_list_shows_experiments_with_their_arms_and_every_config_group(plugin_file, capsys):
    path = plugin_file("warped_grid.py")
    assert main(["list", f"plugin={path}"]) == 0
    out = capsys.readouterr().out
    experiments = out.split("experiments (experiment=NAME):\n")[1].split("config groups")[0]
    names = [line.split()[0] for line in experiments.splitlines() if line.startswith("  ") and line[2] != " "]
    assert names == sorted(p.stem for p in (PLUGINS.parent / "experiment").glob("*.yaml"))
    assert ("  quickstart       The main job: moons on CPU in about 5 minutes.\n"
            "                   arms: noise_start[indep], noise_start[ot], warm_start[gmm16]") in experiments
    groups = dict(line.split(None, 1) for line in out.split("config groups (GROUP=OPTION):\n")[1].splitlines())
    assert set(groups) == {"data", "drafter", "logger", "method", "refiner", "refiner/net", "sweep"}
    assert groups["sweep"] == "grid, nsga2, tpe" and groups["refiner/net"] == "mlp, transformer, unet"
    # A plugin's method has no conf/ file: it is an option of the method group all the same.
    assert "noise_start_warped" in groups["method"].split(", ") and "mdlm" in groups["method"].split(", ")


def test_a_relative_plugin_path_is_found_in_the_current_folder_then_in_conf(workdir, plugin_file, capsys):
    from lightning_modules.core.plugins import plugin_path

    assert plugin_path("plugins/warped_grid.py") == (PLUGINS / "warped_grid.py").resolve()  # from conf/
    local = plugin_file("warped_grid.py")  # tmp/user_code/warped_grid.py; workdir is tmp
    (workdir / "plugins").mkdir()
    shadow = Path(shutil.copy(local, workdir / "plugins" / "warped_grid.py"))
    assert plugin_path("plugins/warped_grid.py") == shadow.resolve()  # the current folder wins
    assert plugin_path("user_code/warped_grid.py") == local.resolve()
    # Not found: one line naming both places looked, and a non-zero exit.
    assert main(["list", "plugin=plugins/nowhere.py"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"wsbench: error: plugin='plugins/nowhere.py' is not allowed: a path to an existing .py file or an "
                   f"importable module name (looked for {workdir / 'plugins/nowhere.py'} and "
                   f"{PLUGINS / 'nowhere.py'})")


def test_analyze_takes_exactly_one_run_dir(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["analyze"])
    assert stop.value.code == 2 and "the following arguments are required: RUN_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "runs/a", "runs/b"])
    assert stop.value.code == 2 and "unrecognized arguments: runs/b" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert usage.split()[-1] == "RUN_DIR" and "..." not in usage
