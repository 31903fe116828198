"""Issue 31: one verdict per comparison, decided by its interval (faster, slower, never,
undecided with a power estimate), and the tolerant target beside the strict one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.fronts import iso_quality_speedup
from analysis.measured import Points
from analysis.verdicts import FASTER, NEVER, SLOWER, UNDECIDED, verdict

B, N = 400, 1000  # replicates, samples per trial
PAIRING = (0, N)


def _boot(mean: float, sd: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, B)


def _points(costs, boots) -> Points:
    boots = np.stack(boots)
    return Points.of(costs, boots.mean(axis=1), boot=boots, nfe=costs, pairing=PAIRING)


# The baseline: 0.30 at 4 NFE, 0.20 at 16, its best 0.10 at 64 (replicate SD 0.002).
BASE = _points([4, 16, 64], [_boot(0.30, 0.002, 1), _boot(0.20, 0.002, 2), _boot(0.10, 0.002, 3)])


def test_a_clear_win_is_faster():
    method = _points([2, 8], [_boot(0.40, 0.002, 4), _boot(0.08, 0.002, 5)])  # 0.08 at 8 NFE
    result = iso_quality_speedup(BASE, method)
    assert result["text"] == "8.0x" and result["interval"]["text"] == "[8.0, 8.0]"
    assert result["verdict"] == {"word": FASTER, "to_decide": None}


def test_a_clear_loss_is_slower_and_a_method_that_never_reaches_is_never():
    late = _points([8, 128], [_boot(0.40, 0.002, 4), _boot(0.09, 0.002, 5)])  # reaches only at 128
    result = iso_quality_speedup(BASE, late)
    assert result["text"] == "0.5x" and result["interval"]["text"] == "[0.5, 0.5]"
    assert result["verdict"]["word"] == SLOWER
    short = _points([8, 64], [_boot(0.40, 0.002, 4), _boot(0.15, 0.002, 5)])  # best 0.15 > 0.10
    result = iso_quality_speedup(BASE, short)
    assert result["status"] == "never_reaches" and result["interval"]["text"] == "[never, never]"
    assert result["verdict"]["word"] == NEVER


def test_a_tie_is_undecided_with_a_power_estimate():
    # At 8 NFE the method sits 0.001 below the baseline's best; the paired difference per
    # replicate has SD sqrt(0.002^2 + 0.002^2): undecided at n = 1,000.
    tie = _points([8], [_boot(0.099, 0.002, 6)])
    result = iso_quality_speedup(BASE, tie)
    assert result["interval"]["lo_text"] == "never" and result["interval"]["hi"] == 8.0
    assert result["verdict"]["word"] == UNDECIDED
    power = result["verdict"]["to_decide"]
    diff = tie.boot[0] - BASE.boot.min(axis=0)  # what the estimate reads: method minus target
    expected = math.ceil(N * (1.959964 * diff.std(ddof=1) / abs(diff.mean())) ** 2)
    assert power["trial"] == 0 and power["n"] == expected and power["n"] > N
    assert power["mean"] == pytest.approx(diff.mean()) and power["sd"] == pytest.approx(diff.std(ddof=1))


def test_the_verdict_rule_reads_the_interval_ends():
    def interval(lo, hi, lo_text, hi_text):
        return {"n_boot": 100, "lo": lo, "hi": hi, "lo_text": lo_text, "hi_text": hi_text}

    assert verdict(interval(1.2, 3.0, "1.2", "3.0")) == FASTER
    assert verdict(interval(None, None, "drafter", "drafter")) == FASTER  # the drafter alone suffices
    assert verdict(interval(0.0, 0.0, "never", "never")) == NEVER
    assert verdict(interval(0.2, 0.9, "0.2", "0.9")) == SLOWER
    assert verdict(interval(0.2, 0.9, "0.2", "≥ 0.9")) == UNDECIDED  # a lower-bound end may hide more
    assert verdict(interval(0.0, 8.0, "never", "8.0")) == UNDECIDED
    assert verdict(interval(1.0, 2.0, "1.0", "2.0")) == UNDECIDED  # 1 itself is not faster
    assert verdict({"n_boot": 0, "text": None}) is None


def test_the_tolerant_target_loosens_the_baselines_best_by_a_fraction():
    # A hand-made front: the baseline reaches 0.1008 at 16 NFE and its best, 0.1000, at 64; the
    # method reaches 0.1009 at 4 NFE (0.2 at 2) and nothing better.
    base = Points.of([16, 64], [0.1008, 0.1000])
    method = Points.of([2, 4], [0.2, 0.1009])
    strict = iso_quality_speedup(base, method)
    assert strict["status"] == "never_reaches" and strict["target"] == 0.1
    within = iso_quality_speedup(base, method, tolerance=0.01)  # target 0.101: both reach it sooner
    assert within["target"] == pytest.approx(0.101)
    assert (within["baseline_cost"], within["method_cost"], within["text"]) == (16.0, 4.0, "4.0x")
    # A metric that can be negative (KID) still loosens upwards.
    neg = iso_quality_speedup(Points.of([16, 64], [-0.0005, -0.001]), Points.of([2, 4], [0.5, -0.00095]),
                              tolerance=0.1)
    assert neg["target"] == pytest.approx(-0.0009) and neg["text"] == "16.0x"


def test_the_report_summary_and_tables_carry_each_comparisons_verdict(smoke_runs, tmp_path):
    from analysis_runs import copy_run

    from analysis import write_report

    run = copy_run(smoke_runs["points"], tmp_path / "run")
    summary = write_report(run)
    base = summary["baseline"]
    words = {FASTER, SLOWER, NEVER, UNDECIDED}
    for axis, per_base in summary["speedup_by_axis"].items():
        for arm, result in per_base[base].items():
            assert summary["verdicts"][base][arm][axis] == result["verdict"]["word"] in words
            if result["verdict"]["word"] == UNDECIDED:
                assert f"{arm} vs {base}" in " ".join(summary["uncertainty"]["to_decide"])
    assert summary["target_tolerance"] == 0.01 and set(summary["verdicts_tolerant"]) == set(summary["verdicts"])
    md = (run / "report" / "speedup.md").read_text()
    assert f"vs {base} within 1% (NFE)" in md.splitlines()[0]
    arm = next(a for a in summary["verdicts"][base])
    word = summary["verdicts"][base][arm]["nfe"]
    cell = summary["speedup_by_axis"]["nfe"][base][arm]["display"]
    assert f"| {cell}, {word} |" in md
