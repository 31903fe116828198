"""Offline FID/KID: the digit feature classifier, the torchmetrics-backed metrics and their sanity."""

from __future__ import annotations

import copy
import importlib.util
import re
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.kid import KernelInceptionDistance

from lightning_modules.data.images import ImageDataModule
from lightning_modules.metrics._common import percentile_interval
from lightning_modules.metrics.feature_net import FeatureClassifier, train_feature_net, weights_hash
from lightning_modules.metrics.fid import (
    _GivenFeatures,
    _inception_weights,
    fid,
    image_features,
    image_quality,
    image_reference_floor,
    inception_fid,
    kid,
)

torch.set_num_threads(1)

NOISE_LEVELS = (0.1, 0.2, 0.4, 0.8)


@pytest.fixture(scope="module")
def digits() -> ImageDataModule:
    return ImageDataModule("digits")


@pytest.fixture(scope="module")
def trained(digits: ImageDataModule) -> tuple[FeatureClassifier, dict]:
    return train_feature_net(digits.train, digits.train_labels, digits.val, digits.val_labels, seed=0)


def _scipy_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """Textbook FID with scipy's matrix square root, as an independent check."""
    a_np, b_np = a.numpy(), b.numpy()
    s1, s2 = np.cov(a_np, rowvar=False), np.cov(b_np, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    mean_gap = float(((a_np.mean(0) - b_np.mean(0)) ** 2).sum())
    return mean_gap + float(np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root))


def _random_feats(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift


# --- the feature classifier ---------------------------------------------------------------


def test_classifier_is_accurate_on_digits(trained):
    net, info = trained
    print(info)
    assert info["test_accuracy"] >= 0.95, info
    assert info["steps"] > 0 and info["seconds"] < 30.0
    assert np.isfinite(info["final_loss"])
    assert net.feature_dim == 64 and not net.training


@pytest.mark.parametrize(("channels", "side"), [(1, 8), (1, 28), (3, 32)])
def test_classifier_handles_each_image_size(channels, side):
    net = FeatureClassifier(channels, side)
    x = torch.rand(3, channels, side, side) * 2 - 1
    assert net.features(x).shape == (3, net.feature_dim)
    assert (net.features(x) >= 0).all()
    assert net(x).shape == (3, 10)


def test_training_is_deterministic_in_seed(digits):
    args = (digits.train, digits.train_labels, digits.val, digits.val_labels)
    first, _ = train_feature_net(*args, steps=20, seed=3)
    again, _ = train_feature_net(*args, steps=20, seed=3)
    other, _ = train_feature_net(*args, steps=20, seed=4)
    assert weights_hash(first) == weights_hash(again)
    assert weights_hash(first) != weights_hash(other)


def test_hash_changes_with_any_weight(trained):
    net, _ = trained
    h = weights_hash(net)
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    changed = copy.deepcopy(net)
    with torch.no_grad():
        changed.trunk[0].weight[0, 0, 0, 0] += 1e-6
    assert weights_hash(changed) != h
    assert weights_hash(net) == h


# --- FID / KID sanity on real digits --------------------------------------------------------


def test_fid_floor_is_small_and_fid_grows_with_noise(digits, trained):
    """Reference vs reference (disjoint halves of the held-out split) sits at the floor; noise
    of growing scale, the same draw rescaled so only the scale differs, raises FID each step."""
    net, _ = trained
    half_a, half_b = digits.ref[:300], digits.ref[300:]
    feats_b = image_features(net, half_b)
    floor = image_reference_floor(image_features(net, half_a), feats_b)
    eps = torch.randn(half_a.shape, generator=torch.Generator().manual_seed(1))
    fids, kids = [], []
    for scale in NOISE_LEVELS:
        q = image_quality((half_a + scale * eps).clamp(-1, 1), feats_b, net, n_boot=20)
        fids.append(q["fid"])
        kids.append(q["kid"])
    print(f"floor {floor}; fid by noise {fids}; kid by noise {kids}")
    assert all(lo < hi for lo, hi in zip(fids, fids[1:], strict=False)), fids
    assert floor["fid"] <= fids[0] * 1.1
    assert floor["fid"] < 0.5 * fids[2] and floor["fid"] < 0.25 * fids[3]
    assert kids[-1] > kids[0] and kids[-1] > floor["kid"]


def test_image_quality_shape_and_reference_forms(digits, trained):
    net, _ = trained
    samples = digits.val[:150]
    from_images = image_quality(samples, digits.ref, net, n_boot=10, seed=2)
    from_feats = image_quality(samples, image_features(net, digits.ref), net, n_boot=10, seed=2)
    assert sorted(from_images) == ["fid", "fid_ci", "kid", "kid_ci"]
    assert from_images == from_feats
    assert all(isinstance(v, float) for v in (from_images["fid"], from_images["kid"]))
    assert all(isinstance(v, float) for v in from_images["fid_ci"] + from_images["kid_ci"])
    assert sorted(image_quality(samples, digits.ref, net, metrics=["fid"], n_boot=0)) == ["fid", "fid_ci"]
    with pytest.raises(ValueError, match="allowed: fid, kid"):
        image_quality(samples, digits.ref, net, metrics=["sw2"])


def test_non_finite_samples_fail_clearly(digits, trained):
    net, _ = trained
    bad = digits.val[:50].clone()
    bad[7, 0, 3, 3] = float("nan")
    bad[9, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="2 of 50 images contain non-finite"):
        image_quality(bad, digits.ref, net)
    feats = _random_feats(40, 4, seed=0)
    feats[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        fid(feats, _random_feats(40, 4, seed=1))


# --- the metrics on feature vectors ---------------------------------------------------------


def test_fid_matches_scipy():
    gen, ref = _random_feats(400, 16, seed=0, shift=0.3), _random_feats(300, 16, seed=1)
    est = fid(gen, ref, n_boot=0)
    assert est.value == pytest.approx(_scipy_fid(gen, ref), rel=1e-6)
    assert est.replicates.numel() == 0


def test_fid_bootstrap_interval_and_determinism():
    gen, ref = _random_feats(200, 8, seed=2, shift=0.5), _random_feats(200, 8, seed=3)
    est = fid(gen, ref, n_boot=50, seed=7)
    lo, hi = percentile_interval(est, 0.95)
    assert est.replicates.shape == (50,) and lo <= est.value <= hi and lo < hi
    assert torch.equal(fid(gen, ref, n_boot=50, seed=7).replicates, est.replicates)
    # The full-sample value does not depend on the bootstrap.
    assert fid(gen, ref, n_boot=0).value == est.value


def test_kid_equals_torchmetrics_and_keeps_global_rng():
    gen, ref = _random_feats(120, 8, seed=4, shift=0.4), _random_feats(100, 8, seed=5)
    state = torch.get_rng_state()
    est = kid(gen, ref, subsets=20, subset_size=40, seed=11)
    assert torch.equal(torch.get_rng_state(), state)
    assert est.replicates.shape == (20,)
    torch.manual_seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_GivenFeatures(8), subsets=20, subset_size=40)
    metric.update(ref, real=True)
    metric.update(gen, real=False)
    mean, _ = metric.compute()
    assert est.value == pytest.approx(float(mean), rel=1e-12)
    assert kid(gen, ref, subsets=20, subset_size=40, seed=11).value == est.value
    assert kid(gen, ref, subsets=5).replicates.shape == (5,)  # default subset size is valid
    with pytest.raises(ValueError, match="subset_size"):
        kid(gen, ref, subset_size=101)


def test_inception_fid_needs_torch_fidelity():
    if importlib.util.find_spec("torch_fidelity") is not None:
        pytest.skip("torch-fidelity is installed here")
    images = torch.zeros(4, 1, 8, 8)
    with pytest.raises(RuntimeError, match=re.escape("pip install 'wsbench[gpu]'")):
        inception_fid(images, images)


def test_inception_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="downloads nothing.*checkpoints"):
        _inception_weights(None)
    with pytest.raises(RuntimeError, match="not a file"):
        _inception_weights(tmp_path / "missing.pth")
    cached = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert _inception_weights(None) == str(cached)
