"""Registries: declared knobs drive validation; configs agree with declarations; runner and
file-layout fixes (a failed search suggestion, arm folders, a silent t0 default, data splits)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml

from analysis.records import safe_name
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.registry import (
    DRAFTERS,
    METHODS,
    TRACKS,
    Knob,
    check_section,
    load_plugins,
)

CONF = Path(__file__).resolve().parent.parent / "conf"


@pytest.mark.parametrize(
    ("knob", "value", "allowed"),
    [
        (Knob("t0", float, low=0.0, high=1.0, high_open=True), 1.0, "a number in [0, 1)"),
        (Knob("steps", int, low=1), 0, "an integer >= 1"),
        (Knob("steps", int, low=1), 2.5, "an integer >= 1"),
        (Knob("steps", int, low=1), True, "an integer >= 1"),
        (Knob("solver", str, choices=("euler", "heun")), "rk4", "one of euler, heun"),
        (Knob("n", int, low=1, nullable=True), -1, "an integer >= 1 or null"),
        (Knob("flag", bool), "yes", "true or false"),
    ],
)
def test_a_knob_names_the_key_the_value_and_what_is_allowed(knob, value, allowed):
    with pytest.raises(ConfigError) as err:
        knob.check(f"method.{knob.name}", value)
    assert str(err.value) == f"method.{knob.name}={value!r} is not allowed: {allowed}"


def test_knobs_accept_their_allowed_values():
    assert Knob("t0", float, low=0.0, high=1.0, high_open=True).ok(0.0)
    assert Knob("n", int, low=1, nullable=True).ok(None)
    assert Knob("lr", float, low=0.0).ok(3)  # an int is a number


def test_an_undeclared_key_is_refused_with_the_declared_ones():
    with pytest.raises(ConfigError, match=r"^method\.t00=0\.5 is not allowed: not a knob of m \(its knobs: t0\) "
                                        r"\(did you mean t0\?\)$"):
        check_section("method", {"name": "m", "t0": 0.5, "t00": 0.5}, [Knob("t0", float)], owner="m")


@pytest.mark.parametrize("path", sorted((CONF / "method").glob("*.yaml")), ids=lambda p: p.stem)
def test_method_configs_hold_exactly_valid_declared_knobs(path):
    body = yaml.safe_load(path.read_text())
    spec = METHODS.get(body["name"])
    fixed = ("name",) if spec.t0 == "knob" else ("name", "t0")
    check_section("method", body, spec.knobs, owner=spec.name, fixed=fixed)
    assert {k.name: k.default for k in spec.knobs} == {k.name: body[k.name] for k in spec.knobs}, \
        "every declared knob is in the YAML, with the declared default"


@pytest.mark.parametrize("path", sorted((CONF / "drafter").glob("*.yaml")), ids=lambda p: p.stem)
def test_drafter_configs_hold_exactly_valid_declared_knobs(path):
    body = yaml.safe_load(path.read_text())
    spec = DRAFTERS.get(body["name"])
    check_section("drafter", body, spec.knobs, owner=spec.name)
    assert {k.name: k.default for k in spec.knobs} == {k: v for k, v in body.items() if k != "name"}


def test_builtin_declarations():
    builtin = ("noise_start", "masked_dfm", "warm_start", "sdedit", "ws_dfm", "drafter_only")
    assert {n: (METHODS.get(n).role, METHODS.get(n).t0) for n in builtin} == {
        "noise_start": ("baseline", "zero"), "masked_dfm": ("baseline", "zero"), "warm_start": ("method", "knob"),
        "sdedit": ("method", "knob"), "ws_dfm": ("method", "knob"), "drafter_only": ("drafter", "one")}
    assert {"images", "points", "text"} <= set(TRACKS.names())
    assert {t: TRACKS.get(t).kind for t in ("points", "images", "text")} == {
        "points": "vector", "images": "image", "text": "tokens"}


def test_unknown_names_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"^method\.name='flux' is not allowed: one of autoregressive, cofre, drafter_only, "):
        METHODS.get("flux")
    with pytest.raises(ConfigError, match=r"^plugin='nowhere/x\.py' is not allowed: a path to an existing \.py"):
        load_plugins("nowhere/x.py")
    with pytest.raises(ConfigError, match=r"^plugin='no_such_module_xyz'"):
        load_plugins("no_such_module_xyz")


def test_arms_whose_names_differ_only_in_punctuation_get_their_own_sample_folders():
    names = ["warm_start[gmm,ot]", "warm_start[gmm_ot]", "warm_start_gmm_ot", "plain-arm.1"]
    folders = [safe_name(n) for n in names]
    assert len(set(folders)) == len(names)
    assert safe_name("plain-arm.1") == "plain-arm.1"  # a safe name is kept as it is
    assert all("/" not in f and "[" not in f and "," not in f for f in folders)


def test_a_t0_conditioned_denoiser_refuses_a_missing_t0():
    from lightning_modules.nets.transformer import TransformerDenoiser

    net = TransformerDenoiser(5, 8, width=16, depth=1, heads=2, time_freqs=2, t0_conditioned=True)
    x, t = torch.zeros(2, 8, dtype=torch.long), torch.full((2,), 0.5)
    with pytest.raises(ValueError, match="t0-conditioned: pass t0"):
        net(x, t)
    assert net(x, t, torch.full((2,), 0.8)).shape == (2, 8, 5)


def test_too_few_documents_for_the_requested_splits_says_so(tmp_path):
    from lightning_modules.data.text import TextDataModule

    (tmp_path / "a.txt").write_text("to be or not to be, that is the question. " * 40)
    with pytest.warns(UserWarning, match=r"1 document\(s\) or split\(s\), too few to split by document, so data\.n_val_docs=2"):
        TextDataModule("text", root=str(tmp_path / "a.txt"), seq_len=8)
    for name in "abcde":
        (tmp_path / f"{name}.txt").write_text(f"{name} " * 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough documents: split by document, no warning
        dm = TextDataModule("text", root=str(tmp_path), seq_len=8, n_val_docs=1, n_test_docs=1)
    assert len(dm.docs["val"]) == 1 and len(dm.docs["test"]) == 1 and len(dm.docs["train"]) == 3


def test_a_bad_search_range_fails_its_trial_and_the_sweep_goes_on(workdir):
    """The suggestion is drawn inside the trial's try: an impossible range is a FAIL record,
    not a crash that leaves a RUNNING trial behind."""
    import optuna

    from sweeps.arms import build_arms, run_dir_of
    from sweeps.cache import ArtifactCache
    from sweeps.models import ModelStore
    from sweeps.results import TrialStore
    from sweeps.runner import SweepRunner
    from sweeps.storage import make_storage
    from sweeps.trial import Evaluator
    from sweeps.wandb_log import NullLogger

    cfg, arms = build_arms(["experiment=smoke", "sweep=tpe", "sweep.n_trials=2",
                            "sweep.arms={d: {set: [method=drafter_only], space: {}}}"])
    arm = arms[0]
    arm.space = {"drafter.n_components": {"low": 5, "high": 2}}  # low > high: Optuna refuses it
    run_dir = run_dir_of(cfg)
    storage = make_storage(None, run_dir)
    runner = SweepRunner(cfg, [arm], run_dir, storage, Evaluator(ModelStore(ArtifactCache(None))), NullLogger(),
                         log=lambda *_: None)
    runner.run()
    recs = TrialStore(run_dir).records()
    assert [r["state"] for r in recs] == ["FAIL", "FAIL"]
    assert all("ValueError" in r["error"] and r["track"] == "points" for r in recs)
    study = optuna.load_study(study_name=f"{cfg.sweep.study}:d", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2  # none left RUNNING


def test_no_branch_on_the_modality_in_sweeps_or_analysis():
    """Orchestration asks the track; analysis reads `track` and `role` (acceptance 3)."""
    root = Path(__file__).resolve().parent.parent
    guesses = ("data_kind", "is_text_run", "images_in_run", "IMAGE_DATASETS", "TEXT_DATASETS", "TOY_DATASETS",
               "BASELINE_METHODS", '== "text"', '== "image"', '== "toy"', "cfg.data.name in")
    found = [f"{p.relative_to(root)}: {g}" for folder in ("sweeps", "analysis") for p in (root / folder).rglob("*.py")
             for g in guesses if g in p.read_text()]
    assert found == []


def test_a_torn_last_line_is_ignored_then_cut_by_the_next_append(tmp_path):
    from sweeps.results import TrialStore

    store = TrialStore(tmp_path)
    store.append({"arm": "a", "trial": 0})
    with open(store.path, "a") as f:
        f.write('{"arm": "a", "tri')  # a kill mid-write
    with pytest.warns(UserWarning, match="torn"):
        assert store.records() == [{"arm": "a", "trial": 0}]
    store.append({"arm": "a", "trial": 1})
    assert store.records() == [{"arm": "a", "trial": 0}, {"arm": "a", "trial": 1}]
    assert store.path.read_text().count("\n") == 2
    with open(store.path, "a") as f:
        f.write("not json\n{}\n")
    with pytest.raises(ConfigError, match=r"^sweep\.run_dir=.*trials\.jsonl:3"):  # a bad line elsewhere: an error
        store.records()


def test_a_refiner_family_declares_its_own_keys_of_the_refiner_section():
    """A new family (e.g. a heavy and a light net) keeps its settings under `refiner` and
    declares them: validation needs no edit."""
    from dataclasses import replace

    from lightning_modules.core.registry import FAMILIES, register_family
    from sweeps.arms import build_arms

    register_family(replace(FAMILIES.get("fm"), name="fm_with_light", knobs=(Knob("light", dict),)))
    _, arms = build_arms(["experiment=smoke", "refiner.family=fm_with_light", "+refiner.light.width=8"])
    assert arms[1].cfg.refiner.light.width == 8
    with pytest.raises(ConfigError, match=r"^refiner\.light=\{'width': 8\} is not allowed: not a knob of refiner"):
        build_arms(["experiment=smoke", "+refiner.light.width=8"])
