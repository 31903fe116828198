"""Hydra composition: groups, nested defaults, +key / ~key, experiment overlays, the schema's
one-line errors, plugins offering config options, and the CLI's exit code 2."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sweeps import options
from sweeps.arms import build_arms
from sweeps.config import compose, group_options, with_params
from sweeps.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _error(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        compose(overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_data_sections_are_exactly_the_option_files_and_the_option_sets_the_track():
    # The data section is hashed into model cache keys: it holds no `track`.
    assert OmegaConf.to_container(compose([]).data) == {"name": "moons", "n_train": 20000, "n_val": 2000, "seed": 0}
    digits = compose(["data=digits"])
    assert digits.track == "images" and "track" not in digits.data
    assert OmegaConf.to_container(digits.data) == {
        "name": "digits", "n_ref": 600, "n_val": 197, "seed": 0, "root": None, "size": 32, "limit": None}
    text = compose(["data=shakespeare"])
    assert text.track == "text" and text.data.seq_len == 64 and "track" not in text.data
    assert compose([]).track == "points" and compose([]).plugin is None


def test_experiment_overlay_values_are_those_of_the_old_composer():
    smoke = compose(["experiment=smoke"])
    assert smoke.experiment == "smoke" and smoke.train_workers == 1
    assert OmegaConf.to_container(smoke.refiner.net) == {"arch": "mlp", "hidden": 32, "depth": 2, "time_freqs": 4}
    assert smoke.refiner.train.steps == 60 and smoke.refiner.train.lr == pytest.approx(2e-3)
    assert OmegaConf.to_container(smoke.sweep.space) == {"method.t0": [0.5, 0.8], "method.steps": [1, 2]}
    assert OmegaConf.to_container(smoke.logger) == {"name": "none"}
    assert dict(smoke.choices) == {"data": "toy", "drafter": "gmm", "refiner": "fm", "method": "warm_start",
                                   "sweep": "grid", "logger": "none"}
    text = compose(["experiment=smoke_text"])
    assert text.data.seq_len == 32 and text.drafter.order == 3 and text.refiner.family == "dfm"
    assert OmegaConf.to_container(text.eval.text_lm) == {"width": 32, "depth": 1, "heads": 2, "steps": 30,
                                                         "batch_size": 32, "lr": 2e-3, "seed": 0, "dropout": 0.0,
                                                         "bf16": False, "hub": None}
    digits = compose(["experiment=smoke_digits"])
    assert digits.track == "images" and digits.refiner.net.arch == "unet" and digits.refiner.net.base == 8
    assert digits.eval.feature_net.steps == 60 and digits.eval.feature_net.width == 32
    assert compose(["method=drafter_only"]).method.t0 == 1.0  # DESIGN.md: the drafter alone is t0 = 1


def test_command_line_groups_and_keys_win_over_the_experiment():
    cfg = compose(["experiment=digits", "data=toy", "refiner=fm", "drafter=gmm", "eval.n_boot=7"])
    assert cfg.track == "points" and cfg.data.name == "moons"
    assert cfg.refiner.net.arch == "mlp" and cfg.drafter.name == "gmm"
    assert cfg.eval.primary_metric == "fid" and cfg.eval.n_boot == 7  # experiment key, then user key
    later = compose(["method=sdedit", "method=noise_start"])  # a later group choice wins
    assert later.method.name == "noise_start" and later.choices.method == "noise_start"


def test_experiment_keys_never_leak_into_another_option():
    # smoke sets MLP sizes (refiner.net.hidden): with refiner=unet that is an error, not a mix.
    message = _error(["experiment=smoke", "refiner=unet"])
    assert message.startswith("refiner.net.hidden=32 is not allowed") and "experiment=smoke" in message
    assert "refiner=unet" in message
    assert _error(["experiment=smoke_digits", "refiner=fm"]).startswith("refiner.net.")
    assert compose(["experiment=smoke", "data=digits"]).track == "images"  # smoke sets no data keys


def test_remove_logger_group_means_no_logger():
    cfg = compose(["~logger"])
    assert OmegaConf.to_container(cfg.logger) == {"name": "none"} and cfg.choices.logger == "none"
    assert OmegaConf.to_container(cfg) == OmegaConf.to_container(compose(["logger=none"]))
    # logger=wandb leaves mode null: WANDB_MODE, else offline (sweeps/wandb_settings.py)
    assert compose(["experiment=smoke", "logger=wandb"]).logger.mode is None


def test_nested_default_picks_the_net_from_a_subfolder():
    assert set(group_options("refiner/net")) >= {"mlp", "unet", "transformer"}
    assert compose([]).refiner.net.arch == "mlp" and compose([]).refiner.family == "fm"
    assert compose(["refiner=unet"]).refiner.net.arch == "unet"
    assert compose(["refiner=dfm"]).refiner.net.arch == "transformer" and compose(["refiner=dfm"]).refiner.family == "dfm"
    swapped = compose(["refiner/net=unet", "refiner.net.base=8"])
    assert OmegaConf.to_container(swapped.refiner.net) == {"arch": "unet", "base": 8, "levels": 2, "time_freqs": 16}
    assert swapped.refiner.pairing == "independent" and swapped.refiner.train.steps == 10000
    assert _error(["refiner/net=resnet"]).startswith("refiner/net='resnet' is not allowed: one of mlp, ")


def test_plus_adds_keys_only_where_the_schema_is_free():
    cfg = compose(["+eval.metric_options.sw2.n_dirs=256"])
    assert OmegaConf.to_container(cfg.eval.metric_options) == {"hist_tv": {"bins": 32}, "sw2": {"n_dirs": 256}}
    assert compose(["+method.extra=3"]).method.extra == 3  # free section: the registry checks it later
    assert compose(["++method.t0=0.6"]).method.t0 == 0.6
    assert "method.rtol" not in OmegaConf.to_container(compose(["~method.rtol"]))["method"]
    assert _error(["+eval.nsamples=3"]).startswith("eval.nsamples=3 is not allowed: not a key of eval")
    assert _error(["+seed=3"]).startswith("+seed=3 is not allowed")
    assert _error(["~eval.n_boot"]).startswith("~eval.n_boot=")


def test_plus_adds_an_arm():
    cfg, arms = build_arms(["experiment=smoke", "+sweep.arms.extra.set=[method=noise_start]",
                            "+sweep.arms.extra.space={method.steps: [8]}"])
    assert cfg.sweep.arms.extra.set == ["method=noise_start"]
    extra = next(a for a in arms if a.name == "extra")
    assert extra.cfg.method.name == "noise_start" and extra.grid() == [{"method.steps": 8}]
    assert len(arms) == 4


def test_swept_mappings_are_replaced_whole_and_keep_dotted_keys():
    cfg = compose(["sweep.space={method.t0: [0.7, 0.9], method.steps: [1, 2]}"])
    assert OmegaConf.to_container(cfg.sweep.space) == {"method.t0": [0.7, 0.9], "method.steps": [1, 2]}
    assert compose(["experiment=smoke", "sweep.arms=null"]).sweep.arms is None


@pytest.mark.parametrize(
    "override, start",
    [
        ("method.t00=0.5", "method.t00=0.5 is not allowed: unknown config key"),
        ("sweep.n_trials=abc", "sweep.n_trials='abc' is not allowed: an integer or null"),
        ("eval.n_boot=1.5", "eval.n_boot=1.5 is not allowed: an integer"),
        ("sweep.sampler=cmaes", "sweep.sampler='cmaes' is not allowed: one of grid, tpe, nsga2"),
        ("sweep.cost_axis=energy", "sweep.cost_axis='energy' is not allowed: one of nfe, wallclock, flops"),
        ("device=tpu", "device='tpu' is not allowed: one of cpu, cuda, auto"),
        ("logger.mode=loud", "logger.mode='loud' is not allowed: one of offline, online, disabled, shared, dryrun, run"),
        ("train_workers=0", "train_workers=0 is not allowed: auto or an integer >= 1"),
        ("method=nonexistent", "method='nonexistent' is not allowed: one of autoregressive, cofre, drafter_only, fluid, fp_mdlm, masked_dfm, mdlm,"),
        ("experiment=nope", "experiment='nope' is not allowed: one of cofre, digits, fluid, quickstart,"),
        ("method.t0=0.5,0.7", "method.t0='0.5,0.7' is not allowed: a single value"),
        ("method.t0=[1,", "method.t0='[1,' is not allowed"),
        ("nokey", "override='nokey' is not allowed"),
    ],
)
def test_bad_overrides_are_one_line_config_errors(override, start):
    assert _error([override]).startswith(start)


def test_values_are_typed_and_hydra_grammar_falls_back_to_yaml():
    cfg = compose(["refiner.train.lr=1e-3", "sweep.n_trials=5", "sweep.storage=sqlite:////tmp/x.db",
                   "data=digits", "data.root=~/digits"])
    assert cfg.refiner.train.lr == pytest.approx(1e-3) and cfg.sweep.n_trials == 5
    assert cfg.sweep.storage == "sqlite:////tmp/x.db" and cfg.data.root == "~/digits"
    assert compose(["sweep.study=nan"]).sweep.study == "nan"  # a study name, not a float


def test_with_params_checks_types_choices_and_keys():
    cfg = compose(["experiment=smoke"])
    moved = with_params(cfg, {"method.t0": 0.6, "sweep.space.extra": [1]})
    assert moved.method.t0 == 0.6 and cfg.method.t0 == 0.8  # a copy
    for params, key in (({"sweep.sampler": "cmaes"}, "sweep.sampler"), ({"eval.n_boot": "x"}, "eval.n_boot"),
                        ({"method.t00": 1}, "method.t00")):
        with pytest.raises(ConfigError, match=rf"^{key}="):
            with_params(cfg, params)


def test_compose_leaves_cwd_alone_and_is_repeatable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = OmegaConf.to_container(compose(["experiment=smoke", "method=noise_start"]))
    for _ in range(3):
        assert OmegaConf.to_container(compose(["experiment=smoke", "method=noise_start"])) == first
    assert Path.cwd() == tmp_path and list(tmp_path.iterdir()) == []  # no outputs/, no .hydra/
    cfg = compose([])
    cfg.method.t0 = 0.1
    assert compose([]).method.t0 == 0.8


def test_conf_dir_from_env_and_errors_name_the_file(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "experiment" / "typo.yaml").write_text(textwrap.dedent("""\
        # @package _global_
        eval:
          n_sample: 3
        """))
    monkeypatch.setenv("WSBENCH_CONF", str(conf))
    message = _error(["experiment=typo"])
    assert message.startswith("eval.n_sample=") and "conf/experiment/typo.yaml" in message
    monkeypatch.setenv("WSBENCH_CONF", str(tmp_path / "nowhere"))
    assert _error([]).startswith("WSBENCH_CONF=")
    monkeypatch.delenv("WSBENCH_CONF")
    assert "typo" not in group_options("experiment") and compose([]).track == "points"


PLUGIN = '''
from lightning_modules.core.registry import Knob, register_method, register_track

@register_method("cfgtest_method", needs=("noise_model",), role="method", t0="zero", kinds=("vector",),
                 knobs=(Knob("steps", int, 3, low=1), Knob("gamma", float, 1.5)))
def make(models, knobs):
    return None

class CfgTestTrack:
    name = "cfgtest_track"
    data_defaults = {"name": "blobs", "n_train": 10, "seed": 0}

register_track(CfgTestTrack())
'''


@pytest.fixture()
def plugin_file(tmp_path):
    path = tmp_path / "my_plugin.py"
    path.write_text(PLUGIN)
    yield path
    from lightning_modules.core import registry

    registry.METHODS._entries.pop("cfgtest_method", None)
    registry.TRACKS._entries.pop("cfgtest_track", None)
    options.unregister()


def test_plugin_methods_and_track_data_become_options(plugin_file):
    cfg = compose([f"plugin={plugin_file}", "method=cfgtest_method", "data=cfgtest_track", "method.gamma=2.0"])
    assert OmegaConf.to_container(cfg.method) == {"name": "cfgtest_method", "steps": 3, "gamma": 2.0}
    assert cfg.track == "cfgtest_track" and OmegaConf.to_container(cfg.data) == {"name": "blobs", "n_train": 10, "seed": 0}
    assert cfg.plugin == str(plugin_file)  # kept: spawned workers reload it
    listed = compose([f"+plugin=[{plugin_file}]", "method=cfgtest_method"])
    assert list(listed.plugin) == [str(plugin_file)] and "cfgtest_method" in group_options("method")
    assert _error(["plugin=/no/such/plugin.py"]).startswith("plugin='/no/such/plugin.py' is not allowed")


def test_cli_bad_key_exits_2_with_one_line_and_no_trials(tmp_path):
    env = dict(os.environ, WSBENCH_CACHE=str(tmp_path / "cache"), WANDB_DIR=str(tmp_path / "wandb"),
               MPLCONFIGDIR=str(tmp_path / "mpl"), WANDB_MODE="offline")
    env.pop("WSBENCH_CONF", None)
    done = subprocess.run([sys.executable, "-m", "sweeps.cli", "sweep", "experiment=smoke", "method.t00=1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "method.t00=1 is not allowed" in lines[0]
    assert not list(tmp_path.rglob("trials.jsonl"))
    shown = subprocess.run([sys.executable, "-m", "sweeps.cli", "sweep", "experiment=smoke", "~logger",
                            "--show-config"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert OmegaConf.create(shown.stdout.split("\n---\n")[0]).logger == {"name": "none"}
