"""Image track end to end: digits data, U-Net refiner, FID/KID records, feature-net identity."""

import json
from pathlib import Path

import pytest
import torch

from lightning_modules.data.images import ImageDataModule, MissingDataError
from lightning_modules.nets.unet import VelocityUNet
from sweeps import study as study_mod
from sweeps.arms import build_arms
from sweeps.errors import ConfigError

SMOKE = ["experiment=smoke_digits"]


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if not r.get("confirm")]  # search trials only


def test_digits_splits_are_disjoint_scaled_and_deterministic():
    a, b = ImageDataModule("digits", seed=0), ImageDataModule("digits", seed=0)
    assert a.train.shape == (1000, 1, 8, 8) and a.val.shape == (197, 1, 8, 8) and a.ref.shape == (600, 1, 8, 8)
    assert torch.equal(a.train, b.train) and a.train.min() == -1 and a.train.max() == 1
    flat = {tuple(x.flatten().tolist()) for x in a.ref}
    # digits has a few exact duplicate images, so count overlap rather than demand none
    overlap = sum(tuple(x.flatten().tolist()) in flat for x in a.train)
    assert overlap <= 5
    assert not torch.equal(ImageDataModule("digits", seed=1).train, a.train)


def test_local_image_sets_say_where_to_put_the_files(tmp_path):
    with pytest.raises(MissingDataError, match="mnist.npz"):
        ImageDataModule("mnist", root=str(tmp_path))
    with pytest.raises(MissingDataError, match="data_batch_1"):
        ImageDataModule("cifar10", root=str(tmp_path))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_unet_keeps_the_image_shape_and_uses_t0(shape):
    torch.manual_seed(0)
    net = VelocityUNet(shape, base=8, levels=2, t0_conditioned=True)
    torch.nn.init.normal_(net.out[-1].weight)  # the output layer starts at zero
    x = torch.randn(3, *shape)
    t = torch.full((3,), 0.5)
    v = net(x, t, torch.full((3,), 0.6))
    assert v.shape == x.shape
    assert not torch.allclose(v, net(x, t, torch.full((3,), 0.9)))
    with pytest.raises(ValueError, match="t0-conditioned"):
        net(x, t)


@pytest.mark.parametrize(
    "override, key",
    [
        (["drafter=gmm"], "drafter"),
        (["refiner=fm"], "refiner.net.arch"),
        (["eval.metrics=[hist_tv]", "eval.primary_metric=hist_tv"], "eval.metrics"),
        (["data.name=mnist"], "data.root"),
    ],
)
def test_image_config_mismatches_are_config_errors(override, key):
    with pytest.raises(ConfigError) as err:
        build_arms(["data=digits", "refiner=unet", "drafter=ppca", "eval.metrics=[fid]",
                    "eval.primary_metric=fid", *override])
    assert err.value.key == key


def test_digits_smoke_sweep_records_fid_with_its_feature_net(workdir):
    summary = study_mod.run_study(SMOKE, log=lambda *_: None)
    run_dir = workdir / "runs" / "smoke_digits"
    recs = _records(run_dir)
    assert len(recs) == 2 + 2 + 1 and all(r["state"] == "COMPLETE" for r in recs), [r.get("error") for r in recs]
    hashes = {r["evaluator"]["weights_hash"] for r in recs}
    assert len(hashes) == 1 and len(hashes.pop()) == 16
    for r in recs:
        assert set(r["quality"]) >= {"fid", "fid_ci", "kid", "kid_ci"}
        assert r["reference_floor"]["fid"] >= 0
        assert r["evaluator"]["name"] == "digits-classifier" and 0 <= r["evaluator"]["test_accuracy"] <= 1
        assert r["cost"]["evals"] == (0 if r["method"] == "drafter_only" else r["params"]["method.steps"])
        if r["method"] != "drafter_only":  # the U-Net's convolutions, measured per call
            assert r["cost"]["networks"][r["cost"]["largest_network"]]["flops_per_eval"] > 1e5
        lo, hi = r["quality"]["fid_ci"]
        assert lo <= hi
    assert "digits-classifier features" in summary["metric_label"]
    assert (run_dir / "report" / "samples.png").exists()
    # A changed feature net (here: another seed) is another FID: every trial gets a new key.
    study_mod.run_study(SMOKE + ["eval.feature_net.seed=1", "sweep.study=smoke_digits_b"], log=lambda *_: None)
    other = _records(workdir / "runs" / "smoke_digits_b")
    assert {r["evaluator"]["weights_hash"] for r in other}.isdisjoint({r["evaluator"]["weights_hash"] for r in recs})
    assert {r["config_hash"] for r in other}.isdisjoint({r["config_hash"] for r in recs})


def test_trial_key_follows_the_feature_net_weights_not_only_its_config():
    from sweeps.identity import trial_hash

    cfg, arms = build_arms(SMOKE)
    arm_cfg = arms[0].cfg
    assert trial_hash(arm_cfg, {"feature_net": "aaaa"}) != trial_hash(arm_cfg, {"feature_net": "bbbb"})
    assert trial_hash(arm_cfg, {"feature_net": "aaaa"}) == trial_hash(arm_cfg, {"feature_net": "aaaa"})


def test_missing_local_image_files_stop_the_sweep_with_one_line(workdir, capsys):
    from sweeps.cli import main

    code = main(["sweep", *SMOKE, "data.name=mnist", f"data.root={workdir / 'nowhere'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data.root" in err[0] and "mnist.npz" in err[0]
    assert not (workdir / "runs").exists()
