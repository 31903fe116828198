"""Sample-based metrics: closed forms, orderings, bootstrap intervals and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightning_modules.metrics import (
    available_metrics,
    energy,
    hist_tv,
    quality,
    reference_floor,
    sw2,
)
from lightning_modules.metrics._common import bootstrap_counts, make_generator
from lightning_modules.metrics.sliced import quantile_pieces, random_directions

NAMES = ("sw2", "energy", "hist_tv")


def gaussian(n: int, seed: int, mean: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shift = torch.tensor(mean, dtype=torch.float64)
    return torch.randn(n, 2, generator=g, dtype=torch.float64) + shift


def ring(n: int, seed: int, blur: float = 0.0) -> torch.Tensor:
    """Points on the unit circle (i.i.d. angles), plus isotropic Gaussian blur."""
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    pts = torch.stack([angle.cos(), angle.sin()], dim=1)
    return pts + blur * torch.randn(n, 2, generator=g, dtype=torch.float64)


# --- same distribution: near the floor, CI contains the value -------------------------


def test_identical_distributions_sit_at_the_floor():
    ref = gaussian(2000, seed=1)
    q = quality(gaussian(2000, seed=2), ref)
    floor = reference_floor(gaussian(2000, seed=3), ref)
    # Absolute ceilings for n = 2000 standard Gaussians, ~1.2-2x the values measured with
    # these seeds (sw2 0.070, energy 0.0034, hist_tv 0.355; floor 0.055, 0.0014, 0.368).
    ceiling = {"sw2": 0.1, "energy": 0.006, "hist_tv": 0.42}
    for name in NAMES:
        assert 0.0 <= q[name] <= max(2.0 * floor[name], ceiling[name]), name
        lo, hi = q[name + "_ci"]
        assert lo <= q[name] <= hi, name
    # Against a clearly different law every metric is far above these levels.
    far = quality(gaussian(2000, seed=2, mean=(1.0, 0.0)), ref, n_boot=0)
    for name in NAMES:
        assert far[name] > 1.3 * max(floor[name], q[name]), name  # hist_tv: 0.53 vs 0.37


def test_reference_floor_matches_quality_without_bootstrap():
    a, b = gaussian(500, seed=4), gaussian(700, seed=5)
    floor = reference_floor(a, b, seed=3)
    q = quality(a, b, n_boot=0, seed=3)
    assert floor == {name: q[name] for name in NAMES}
    assert all(type(v) is float for v in floor.values())
    assert q["sw2_ci"] == [q["sw2"], q["sw2"]]


def test_only_the_booted_metrics_get_intervals_and_replicates():
    x, ref = gaussian(800, seed=6), gaussian(800, seed=7)
    full = quality(x, ref, n_boot=30, seed=2, replicates=True)
    lean = quality(x, ref, n_boot=30, seed=2, replicates=True, boot=["hist_tv"])
    # Values do not depend on the bootstrap; the booted metric's interval and replicates are
    # the full call's (its own generator), the others have neither.
    assert {name: lean[name] for name in NAMES} == {name: full[name] for name in NAMES}
    assert lean["hist_tv_ci"] == full["hist_tv_ci"] and lean["hist_tv_boot"] == full["hist_tv_boot"]
    assert set(lean) == {*NAMES, "hist_tv_ci", "hist_tv_boot"}


# --- shifted Gaussians: monotone, sw2 closed form --------------------------------------


def test_metrics_increase_with_mean_shift():
    ref = gaussian(2000, seed=10)
    x = gaussian(2000, seed=11)
    shifts = (0.0, 0.25, 0.5, 1.0)
    rows = [quality(x + torch.tensor([mu, 0.0]), ref, n_boot=0) for mu in shifts]
    for name in NAMES:
        values = [r[name] for r in rows]
        assert values == sorted(values) and len(set(values)) == len(values), (name, values)
    # Independent draws: SW2 = |mu + sample-mean gap| / sqrt(2) plus noise; 0.05 covers it.
    for mu, r in zip(shifts[1:], rows[1:], strict=True):
        assert r["sw2"] == pytest.approx(mu / math.sqrt(2), abs=0.05)


@pytest.mark.parametrize("mu", [(0.25, 0.0), (0.0, -0.5), (0.6, 0.8), (3.0, 4.0)])
def test_sw2_closed_form_for_a_pure_shift(mu):
    # Same points shifted by mu: each direction's W2 is |u . mu| exactly, and orthonormal
    # frames make mean_p (u_p . mu)^2 = |mu|^2 / 2 exactly, so SW2 = |mu| / sqrt(2).
    x = gaussian(1000, seed=12)
    value = sw2(x + torch.tensor(mu, dtype=torch.float64), x).value
    assert value == pytest.approx(math.hypot(*mu) / math.sqrt(2), rel=1e-9)


def test_sw2_handles_unequal_sizes_exactly():
    ix, iy, w = quantile_pieces(2, 3)  # breakpoints 0, 1/3, 1/2, 2/3, 1
    assert ix.tolist() == [0, 0, 1, 1] and iy.tolist() == [0, 1, 1, 2]
    assert torch.allclose(w, torch.tensor([2, 1, 1, 2], dtype=torch.float64) / 6)
    x = gaussian(300, seed=13)
    assert sw2(x, torch.cat([x, x, x])).value == pytest.approx(0.0, abs=1e-12)
    # 1-D check by hand: {0, 1} vs {0, 1, 2}: pieces give (0-0)^2/3 + (0-1)^2/6
    # + (1-1)^2/6 + (1-2)^2/3 = 1/2 for every direction (projections are +-values).
    x1 = torch.tensor([[0.0], [1.0]])
    y1 = torch.tensor([[0.0], [1.0], [2.0]])
    assert sw2(x1, y1, n_projections=4).value == pytest.approx(math.sqrt(0.5), rel=1e-12)


def test_directions_are_unit_and_frames_orthonormal():
    u = random_directions(3, 7, make_generator(0))
    assert u.shape == (3, 7)
    assert torch.allclose(u.norm(dim=0), torch.ones(7, dtype=torch.float64))
    frame = u[:, :3]
    assert torch.allclose(frame.T @ frame, torch.eye(3, dtype=torch.float64), atol=1e-12)


# --- energy distance: hand-computed cases ----------------------------------------------


def test_energy_closed_forms():
    # Point masses at 0 and a: 2|a| - 0 - 0.
    x = torch.zeros(2, 1, dtype=torch.float64)
    assert energy(x, x + 1.5).value == pytest.approx(3.0, rel=1e-12)
    # {0, 1} vs {2}: 2 * 1.5 - (0 + 1 + 1 + 0) / 4 - 0 = 2.5 (V-statistic: i == j included).
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[2.0], [2.0]])
    assert energy(x, y).value == pytest.approx(2.5, rel=1e-12)
    # Euclidean, not L1: masses at (0, 0) and (3, 4) are 5 apart.
    assert energy(torch.zeros(3, 2), torch.tensor([[3.0, 4.0]] * 2)).value == pytest.approx(10.0)
    assert energy(x, x).value == 0.0


def test_energy_bootstrap_replicates_equal_explicit_resamples():
    x, y = gaussian(60, seed=20), gaussian(50, seed=21, mean=(0.3, 0.0))
    est = energy(x, y, n_boot=3, seed=7)
    counts = bootstrap_counts(60, 3, make_generator(7))  # same draws as inside energy()
    for b in range(3):
        resample = x[torch.repeat_interleave(torch.arange(60), counts[b].long())]
        assert est.replicates[b].item() == pytest.approx(energy(resample, y).value, rel=1e-10)


def test_energy_subsets_large_inputs_deterministically():
    x, y = gaussian(400, seed=22), gaussian(300, seed=23)
    a = energy(x, y, max_n=100, seed=1).value
    assert a == energy(x, y, max_n=100, seed=1).value
    assert a != energy(x, y, max_n=100, seed=2).value  # another subset
    assert energy(x, y, max_n=400).value == energy(x, y, max_n=10_000).value


def test_sw2_bootstrap_replicates_equal_explicit_resamples():
    x, y = gaussian(80, seed=24), gaussian(50, seed=25)
    est = sw2(x, y, n_boot=3, seed=5, n_projections=8, n_boot_projections=8)
    # The resamples come from a fresh generator of the seed, whatever the directions drew, so
    # every metric (and every trial with this seed and n) resamples the same indices.
    counts = bootstrap_counts(80, 3, make_generator(5))
    for b in range(3):
        resample = x[torch.repeat_interleave(torch.arange(80), counts[b].long())]
        direct = sw2(resample, y, seed=5, n_projections=8).value
        assert est.replicates[b].item() == pytest.approx(direct, rel=1e-9)


# --- histogram TV -----------------------------------------------------------------------


def test_hist_tv_disjoint_supports_give_one():
    g = torch.Generator().manual_seed(30)
    left = torch.rand(1000, 2, generator=g, dtype=torch.float64) * torch.tensor([0.4, 1.0])
    ref = torch.cat([left, torch.tensor([[1.0, 1.0]])])  # one corner point widens the grid
    right = torch.rand(1000, 2, generator=g, dtype=torch.float64) * 0.3 + torch.tensor([0.6, 0.3])
    assert hist_tv(right, ref).value == pytest.approx(1.0)
    assert hist_tv(right + 50.0, ref).value == pytest.approx(1.0)  # all outside the grid


def test_hist_tv_counts_mass_outside_the_grid():
    ref = gaussian(1000, seed=31)
    x = ref.clone()
    assert hist_tv(x, ref).value == 0.0
    x[:100] = 100.0  # 10% thrown far away: lost from the cells, found in "outside"
    assert hist_tv(x, ref).value == pytest.approx(0.1)
    x[:100] = torch.nan
    with pytest.raises(ValueError, match="samples contain 100 non-finite rows"):
        hist_tv(x, ref)


def test_hist_tv_sees_blur_of_a_thin_ring():
    ref = ring(4000, seed=32)
    blurs = (0.0, 0.02, 0.05, 0.1, 0.2)
    tv = [hist_tv(ring(4000, seed=33, blur=s), ref).value for s in blurs]
    assert tv == sorted(tv) and len(set(tv)) == len(tv), tv
    assert tv[-2] > tv[0] + 0.25  # blur 0.1 moves >25% of the mass off the ring's bins
    assert tv[-1] > 0.7


def test_hist_tv_requires_two_dimensions():
    x = torch.zeros(10, 3)
    with pytest.raises(ValueError, match=r"hist_tv needs 2-D points; got d=3"):
        quality(x, x)
    assert set(quality(x, x + 1.0, metrics=("sw2", "energy"), n_boot=5)) == {
        "sw2",
        "sw2_ci",
        "energy",
        "energy_ci",
    }


# --- API contract: determinism, errors, intervals ----------------------------------------


def test_quality_is_deterministic_and_returns_python_floats():
    x, y = gaussian(500, seed=40, mean=(0.2, 0.0)), gaussian(500, seed=41)
    a = quality(x, y, n_boot=30, seed=3)
    assert a == quality(x, y, n_boot=30, seed=3)
    assert a == quality(x.numpy(), y.numpy(), n_boot=30, seed=3)  # numpy input
    assert a["sw2"] != quality(x, y, n_boot=30, seed=4)["sw2"]  # seed moves directions
    for name in NAMES:
        assert type(a[name]) is float
        assert [type(v) for v in a[name + "_ci"]] == [float, float]
    # One metric's value does not depend on which others are requested.
    assert quality(x, y, metrics=["hist_tv"], n_boot=30, seed=3)["hist_tv_ci"] == a["hist_tv_ci"]


def test_unknown_metric_is_rejected_with_the_allowed_list():
    assert available_metrics() == ["energy", "hist_tv", "sw2"]
    x = gaussian(10, seed=42)
    with pytest.raises(ValueError) as err:
        quality(x, x, metrics=("sw2", "foo"))
    assert str(err.value) == "unknown metric 'foo'; allowed: energy, hist_tv, sw2"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_samples_raise(bad):
    x = gaussian(100, seed=43)
    x[[3, 50, 51], 1] = bad
    with pytest.raises(ValueError, match=r"^samples contain 3 non-finite rows \(of 100\)$"):
        quality(x, gaussian(100, seed=44))
    with pytest.raises(ValueError, match="reference contains 3 non-finite rows"):
        reference_floor(gaussian(100, seed=44), x)


def test_shape_errors():
    with pytest.raises(ValueError, match="samples must have shape"):
        quality(torch.zeros(10), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="d=3 but reference has d=2"):
        quality(torch.zeros(10, 3), torch.zeros(10, 2))


def test_ci_contains_value_and_shrinks_with_n():
    ref = gaussian(4000, seed=50)
    widths = {}
    for n in (500, 4000):
        q = quality(gaussian(n, seed=51, mean=(0.3, 0.0)), ref, seed=1)
        for name in NAMES:
            lo, hi = q[name + "_ci"]
            assert lo <= q[name] <= hi, (name, n)
            widths[name, n] = hi - lo
    for name in NAMES:
        assert widths[name, 4000] < 0.6 * widths[name, 500], name


def test_ci_level_orders_interval_widths():
    x, y = gaussian(800, seed=52, mean=(0.2, 0.0)), gaussian(800, seed=53)
    narrow = quality(x, y, ci=0.5, n_boot=200)
    wide = quality(x, y, ci=0.95, n_boot=200)
    for name in NAMES:
        assert wide[name + "_ci"][0] <= narrow[name + "_ci"][0], name
        assert wide[name + "_ci"][1] >= narrow[name + "_ci"][1], name
    with pytest.raises(ValueError, match="ci must be in"):
        quality(x, y, ci=95)


def test_numpy_float32_inputs_are_promoted():
    x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    assert quality(x, x, n_boot=0)["energy"] == 0.0
