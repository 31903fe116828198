"""Comparisons at equal block budgets (sweep.budgets, analysis/budgets.py) on a real tiny run:
MDLM (one block per call in the smoke substrate) against the FP-MDLM (pre + 2 iterations +
post = 4 blocks per call) at budgets of 4 and 8 block passes."""

from __future__ import annotations

import json

import pytest

from analysis.budgets import budget_rows, declared_budgets, nearest
from analysis.load import load_trials
from sweeps.cli import main

ARMS = ('sweep.arms={"mdlm": {set: [method=mdlm], space: {method.steps: [4, 8]}}, '
        '"fp[N2]": {set: [method=fp_mdlm, method.iters=2], space: {method.steps: [1, 2, 3]}}}')


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("budgets") / "run"
    code = main(["sweep", "experiment=smoke_text", ARMS, "sweep.budgets=[4, 8]", "sweep.confirm=false",
                 "sweep.cost_axis=blocks", "eval.n_samples=32", f"sweep.run_dir={run}"])
    assert code == 0
    return run


def test_a_trial_belongs_to_the_budget_within_ten_percent():
    assert nearest(33, [32, 64]) == 32 and nearest(63, [32, 64]) == 64
    assert nearest(48, [32, 64]) is None and nearest(0, [32]) is None


def test_each_arm_is_compared_with_the_baseline_at_its_nominal_budget(budget_run):
    trials = load_trials(budget_run)
    assert declared_budgets(trials) == [4.0, 8.0]
    rows = budget_rows(trials, "gen_ppl", [4.0, 8.0])
    by = {(r["arm"], r["budget"]): r for r in rows}
    # 12 blocks (fp at 3 steps) is no declared budget: left out
    assert set(by) == {("mdlm", 4.0), ("mdlm", 8.0), ("fp[N2]", 4.0), ("fp[N2]", 8.0)}
    assert by[("fp[N2]", 8.0)]["steps"] == 2 and by[("mdlm", 8.0)]["steps"] == 8
    assert by[("fp[N2]", 4.0)]["nominal"] == 4.0
    for budget in (4.0, 8.0):
        fp, base = by[("fp[N2]", budget)], by[("mdlm", budget)]
        assert fp["ratio"] == pytest.approx(fp["quality"] / base["quality"])
        lo, hi = fp["ratio_ci"]
        assert lo <= hi and fp["verdict"] == ("better" if hi < 1 else "worse" if lo > 1 else "level")
        assert base["ratio"] is None  # the baseline is not compared with itself
        # the ledger's passes: at most the nominal (a cached sampler skips calls), at least one call's
        assert 1 <= base["blocks"] <= budget and 4 <= fp["blocks"] <= budget


def test_the_report_writes_the_budget_table_and_fronts_on_blocks(budget_run):
    report = budget_run / "report"
    table = (report / "budgets.md").read_text()
    assert "| arm | 4 blocks | 8 blocks |" in table and "fp[N2]" in table
    summary = json.loads((report / "summary.json").read_text())
    assert summary["cost_axis"] == "blocks" and summary["budgets"]["budgets"] == [4.0, 8.0]
    assert {"front_blocks.png", "front_flops.png", "front_wallclock.png", "budgets.md"} <= set(summary["files"])
