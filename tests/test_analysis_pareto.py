"""Pareto fronts and iso-quality speed-ups on hand-made (cost, quality) points: the math, no records."""

import numpy as np
import pytest

from analysis.fronts import (
    DRAFTER_SUFFICES,
    LOWER_BOUND,
    NEVER_REACHES,
    NO_BASELINE,
    OK,
    iso_quality_speedup,
    pareto_front,
)
from analysis.measured import Points


def test_front_keeps_non_dominated_sorted_by_cost():
    costs = [8, 1, 4, 2, 3, 16]
    quality = [0.10, 0.90, 0.20, 0.50, 0.60, 0.15]
    # (3, 0.6) is dominated by (2, 0.5); (16, 0.15) by (8, 0.10).
    assert pareto_front(costs, quality).tolist() == [1, 3, 2, 0]


def test_front_ties_are_deterministic():
    # Exact duplicates: the lowest index survives; equal cost: only the best quality.
    costs = [2, 1, 1, 2, 1]
    quality = [0.3, 0.5, 0.4, 0.3, 0.4]
    assert pareto_front(costs, quality).tolist() == [2, 0]
    # Equal quality at a higher cost is dominated.
    assert pareto_front([1, 2], [0.5, 0.5]).tolist() == [0]


def test_front_ignores_nan_and_handles_empty():
    assert pareto_front([1, np.nan, 3], [0.5, 0.1, np.nan]).tolist() == [0]
    assert pareto_front([], []).tolist() == []
    with pytest.raises(ValueError, match="equal length"):
        pareto_front([1, 2], [0.1])


# Baseline: best quality 0.125 at cost 16, CI [0.09375, 0.15625] -> target 0.125, its point
# estimate (the CI's half-width is not added: the speed-up's interval carries the noise).
BASELINE = Points.of(
    cost=[2, 4, 8, 16],
    quality=[0.5, 0.25, 0.15625, 0.125],
    lo=[0.4, 0.2, 0.125, 0.09375],
    hi=[0.6, 0.3, 0.1875, 0.15625],
    trial=[10, 11, 12, 13],
)


def test_target_and_baseline_cost():
    result = iso_quality_speedup(BASELINE, Points.of([4, 2], [0.15, 0.3]))
    assert result["target"] == 0.125
    assert result["baseline_cost"] == 16
    assert result["baseline_trial"] == 13


def test_ok_status():
    method = Points.of([1, 2, 4], [0.30, 0.15, 0.1], trial=[0, 1, 2])
    result = iso_quality_speedup(BASELINE, method)
    assert result["status"] == OK
    assert result["value"] == pytest.approx(4.0)
    assert result["text"] == "4.0x"
    assert (result["method_cost"], result["method_trial"]) == (4, 2)


def test_lower_bound_when_smallest_budget_already_meets_target():
    method = Points.of([1, 2], [0.05, 0.04])
    result = iso_quality_speedup(BASELINE, method)
    assert result["status"] == LOWER_BOUND
    assert result["value"] == pytest.approx(16.0)
    assert result["text"] == "≥ 16.0x"


def test_never_reaches():
    result = iso_quality_speedup(BASELINE, Points.of([1, 2, 64], [0.5, 0.2, 0.16]))
    assert result["status"] == NEVER_REACHES
    assert result["value"] is None and result["method_cost"] is None
    assert result["text"] == "never reaches"


def test_drafter_suffices_regardless_of_cost_axis():
    # Wall-clock axis: the drafter trial has a positive cost but zero refiner evaluations.
    method = Points.of(cost=[0.5, 1.0], quality=[0.125, 0.1], nfe=[0, 2])
    result = iso_quality_speedup(BASELINE, method)
    assert result["status"] == DRAFTER_SUFFICES
    assert result["text"] == "drafter suffices"
    assert result["value"] is None and result["method_cost"] == 0.5


def test_no_interpolation_between_measured_points():
    # Interpolating the method between (1, 0.3) and (3, 0.125) would cross the target below
    # cost 3; the rule reads the measured point at 3.
    method = Points.of([1, 3], [0.3, 0.125])
    result = iso_quality_speedup(BASELINE, method)
    assert result["baseline_cost"] == 16
    assert result["value"] == pytest.approx(16 / 3)
    # A cheaper baseline point that ties the best sets the baseline's cost.
    tied = Points.of([2, 4, 8, 16], [0.5, 0.25, 0.125, 0.125])
    assert iso_quality_speedup(tied, method)["baseline_cost"] == 8
    # A method just above the target everywhere never reaches it, however close its last
    # point is.
    assert iso_quality_speedup(BASELINE, Points.of([1, 3], [0.3, 0.125 + 1e-9]))["status"] == (
        NEVER_REACHES
    )


def test_target_is_the_best_point_estimate_and_empty_baseline():
    base = Points.of([1, 2], [0.2, 0.1])
    assert iso_quality_speedup(base, Points.of([1, 2], [0.3, 0.1]))["target"] == 0.1
    empty = Points.of([], [])
    result = iso_quality_speedup(empty, Points.of([1], [0.1]))
    assert result["status"] == NO_BASELINE and result["value"] is None


def test_lower_bound_is_judged_on_the_nfe_grid_when_wallclock_is_noisy():
    # Both method points sit at nfe 1 (the grid's smallest budget); timing noise makes the
    # qualifying one 1.1 ms, not the arm's cheapest 1.0 ms. It is still a lower bound.
    base = Points.of([8.0, 16.0], [0.5, 0.2], lo=[0.45, 0.19], hi=[0.55, 0.21], nfe=[8, 16])
    method = Points.of([1.0, 1.1], [0.9, 0.2], nfe=[1, 1])
    result = iso_quality_speedup(base, method)
    assert result["status"] == "lower_bound" and result["text"].startswith("≥")
    assert result["value"] == pytest.approx(16.0 / 1.1)
