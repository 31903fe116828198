"""Config composition, validation and cache keys."""

import pytest

from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.config import compose, parse_value
from sweeps.errors import ConfigError
from sweeps.models import ModelStore


def test_group_and_key_overrides_compose():
    cfg = compose(["drafter=vae", "method.t0=0.9", "refiner.train.lr=1e-3"])
    assert cfg.drafter.name == "vae" and cfg.drafter.latent == 2
    assert cfg.method.t0 == 0.9
    assert cfg.refiner.train.lr == pytest.approx(1e-3)


def test_experiment_sets_arms_and_user_overrides_win():
    cfg, arms = build_arms(["experiment=smoke", "refiner.train.steps=7"])
    assert [a.name for a in arms] == ["noise_start[indep]", "warm_start[gmm4]", "drafter_only[gmm4]"]
    assert all(a.cfg.refiner.train.steps == 7 for a in arms)
    assert arms[0].cfg.method.name == "noise_start"
    assert arms[1].cfg.drafter.n_components == 4
    assert len(arms[1].grid()) == 4 and arms[2].grid() == [{}]


@pytest.mark.parametrize(
    "override, key",
    [
        ("method.t0=1.5", "method.t0"),
        ("method.steps=0", "method.steps"),
        ("method.name=flux", "method.name"),
        ("data.name=mnist_but_wrong", "data.name"),
        ("method.solver=rk99", "method.solver"),
        ("refiner.pairing=greedy", "refiner.pairing"),
        ("sweep.sampler=cmaes", "sweep.sampler"),
        ("eval.primary_metric=fid", "eval.primary_metric"),
        ("method.t00=0.5", "method.t00"),
        ("method=nonexistent", "method"),
        ("eval.timing_repeats=1", "eval.timing_repeats"),  # a median needs at least 3 whole runs
        ("eval.boot_metrics=some", "eval.boot_metrics"),
    ],
)
def test_bad_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as info:
        build_arms([override])
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{key}=")


def test_bad_grid_value_is_caught_before_compute():
    with pytest.raises(ConfigError, match=r"method\.steps=0"):
        build_arms(["sweep.space={method.steps: [1, 0]}"])


def test_parse_value_reads_scientific_floats():
    assert parse_value("1e-3") == pytest.approx(1e-3)
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("null") is None
    assert parse_value("nan") == "nan"  # a study name, not a float


def test_cache_keys_follow_exactly_the_config_that_made_the_model(tmp_path):
    store = ModelStore(ArtifactCache(tmp_path))
    base = compose([])
    same = compose(["method.steps=64", "method.t0=0.6"])
    other_pairing = compose(["refiner.pairing=minibatch_ot"])
    other_drafter = compose(["drafter.n_components=3"])
    for name in ("drafter", "noise_model", "refiner"):
        assert store.key(name, base) == store.key(name, same)  # sampling knobs never retrain
    assert store.key("drafter", base) == store.key("drafter", other_pairing)
    assert store.key("noise_model", base) != store.key("noise_model", other_pairing)
    assert store.key("refiner", base) != store.key("refiner", other_pairing)
    assert store.key("noise_model", base) == store.key("noise_model", other_drafter)
    assert store.key("refiner", base) != store.key("refiner", other_drafter)


def test_the_toy_studies_bootstrap_their_primary_metric_alone():
    import torch

    from lightning_modules.tracks.base import Reference
    from sweeps.models import track_of

    g = torch.Generator().manual_seed(0)
    samples, ref = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    for experiment, booted in (("quickstart", {"hist_tv"}), ("smoke", {"hist_tv", "sw2", "energy"})):
        cfg = compose([f"experiment={experiment}"])
        q = track_of(cfg).quality(cfg, None, samples, Reference(ref, {}))
        assert {k[:-3] for k in q if k.endswith("_ci")} == booted, experiment
        assert {k[:-5] for k in q if k.endswith("_boot")} == booted, experiment
        assert {"hist_tv", "sw2", "energy"} <= set(q)
