"""Toy data sets: shapes, scale, determinism, disjoint splits, reference draws, errors."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.data import TOY_DATASETS, ToyDataModule, make_toy
from lightning_modules.data.toy import RandomBatches

NAMES = ("moons", "8gaussians", "checkerboard", "pinwheel", "spirals", "circles")


def test_the_six_sets_are_registered() -> None:
    assert set(TOY_DATASETS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7, 5000])
def test_shape_dtype_and_box(name: str, n: int) -> None:
    x = make_toy(name, n, 0)
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())
    assert float(x.abs().max()) <= 4.0


@pytest.mark.parametrize("name", NAMES)
def test_scale_near_origin(name: str) -> None:
    """Centred near the origin, per-coordinate std between about 0.8 and 2 (the docstring's promise)."""
    x = make_toy(name, 20000, 1)
    assert float(x.mean(0).abs().max()) < 0.5
    std = x.std(0)
    assert float(std.min()) > 0.75 and float(std.max()) < 2.0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_in_seed(name: str) -> None:
    a, b = make_toy(name, 300, 4), make_toy(name, 300, 4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, make_toy(name, 300, 5))
    assert torch.equal(make_toy(name, 300, [4, 1]), make_toy(name, 300, [4, 1]))
    assert not torch.equal(make_toy(name, 300, [4, 1]), make_toy(name, 300, [4, 2]))


@pytest.mark.parametrize("name", NAMES)
def test_splits_differ_and_are_deterministic(name: str) -> None:
    dm = ToyDataModule(name, n_train=2000, n_val=500, seed=3)
    again = ToyDataModule(name, n_train=2000, n_val=500, seed=3)
    assert dm.train.shape == (2000, 2) and dm.val.shape == (500, 2) and dm.dim == 2
    torch.testing.assert_close(dm.train, again.train, rtol=0, atol=0)
    torch.testing.assert_close(dm.val, again.val, rtol=0, atol=0)
    ref = dm.reference(500, 0)
    assert ref.shape == (500, 2)
    # Disjoint streams: no point shared between train, val and reference.
    for a, b in ((dm.train, dm.val), (dm.train, ref), (dm.val, ref)):
        assert not bool((a[:, None, :] == b[None, :, :]).all(-1).any())
    other_seed = ToyDataModule(name, n_train=2000, n_val=500, seed=4)
    assert not torch.equal(dm.train, other_seed.train)
    assert not torch.equal(ref, other_seed.reference(500, 0))


@pytest.mark.parametrize("name", NAMES)
def test_reference_deterministic_and_differs_across_seeds(name: str) -> None:
    dm = ToyDataModule(name, n_train=100, n_val=100, seed=0)
    r0, r0_again, r1 = dm.reference(400, 0), dm.reference(400, 0), dm.reference(400, 1)
    torch.testing.assert_close(r0, r0_again, rtol=0, atol=0)
    assert not bool((r0[:, None, :] == r1[None, :, :]).all(-1).any())
    # The reference of a data module does not depend on its train/val sizes.
    bigger = ToyDataModule(name, n_train=300, n_val=50, seed=0)
    torch.testing.assert_close(bigger.reference(400, 0), r0, rtol=0, atol=0)
    assert float(r0.abs().max()) <= 4.0


@pytest.mark.parametrize("name", ["Moons", "two_moons", "", "8-gaussians"])
def test_unknown_dataset_lists_allowed(name: str) -> None:
    allowed = ", ".join(sorted(NAMES))
    with pytest.raises(ValueError, match=f"unknown dataset '{name}'; allowed: {allowed}"):
        make_toy(name, 10, 0)
    with pytest.raises(ValueError, match="allowed: 8gaussians, checkerboard, circles, moons"):
        ToyDataModule(name)


def test_random_batches_are_rows_of_the_tensors() -> None:
    a = torch.arange(20.0).reshape(10, 2)
    b = -a
    it = iter(RandomBatches(a, b, batch_size=4, seed=0))
    xa, xb = next(it)
    assert xa.shape == (4, 2)
    torch.testing.assert_close(xb, -xa, rtol=0, atol=0)  # aligned: same rows
    first = [next(iter(RandomBatches(a, batch_size=4, seed=1)))[0] for _ in range(2)]
    torch.testing.assert_close(first[0], first[1], rtol=0, atol=0)  # deterministic in seed
    unaligned = next(iter(RandomBatches(a, b, batch_size=64, seed=0, aligned=False)))
    assert not torch.equal(unaligned[1], -unaligned[0])
