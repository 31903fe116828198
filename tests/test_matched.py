"""Matched comparisons (analysis.matched): each arm against the primary baseline at equal
`sweep.matched_on` knobs, paired on the same seed. Built from copies of the smoke_text
sweep's real `scheduled` record with hand-set values, so every number is computed by hand."""

from __future__ import annotations

import json

import pytest
from analysis_runs import clone, copy_run, of_arm, records, write_records

from analysis import write_report
from analysis.confirmed import finalists
from analysis.load import load_trials


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _rec(template, arm, trial, steps, flops, boot, runs, *, role, schedule=None):
    params = {"method.steps": steps} | ({"method.schedule": schedule} if schedule else {})
    out = clone(template, arm=arm, trial=trial, role=role, seed=0, n_samples=64, confirm=False,
                matched={"on": ["method.steps"], "delta": 0.02}, primary_baseline="heavy")
    out["params"] = params
    out["knobs"] = list(params)
    value = sum(boot) / len(boot)
    out["quality"] = {"gen_ppl": value, "gen_ppl_ci": [min(boot), max(boot)], "entropy": 4.0 + trial / 10}
    out["quality_boot"] = {"gen_ppl": list(boot)}
    out["cost"] = {**out["cost"], "flops": flops, "nfe": flops / 100, "wallclock_s": sorted(runs)[1],
                   "wallclock_runs_s": list(runs)}
    for key in ("confirm_of", "look", "rule"):
        out.pop(key, None)
    return out


def test_each_arm_is_paired_with_the_baseline_at_the_same_steps(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    template = of_arm(records(run), "sched")[0]
    base = [10.0 + 0.1 * (i % 5) for i in range(40)]  # any spread: the ratio is exact per replicate
    recs = [
        _rec(template, "heavy", 0, 2, 200.0, [12.0] * 40, [1.0, 1.0, 1.0], role="baseline"),
        _rec(template, "heavy", 1, 4, 400.0, base, [2.0, 2.0, 2.0], role="baseline"),
        # matches: ratio 1.01 in every replicate (<= 1.02); 25% of the FLOPs saved, half the time
        _rec(template, "sched", 0, 4, 300.0, [1.01 * b for b in base], [1.0, 1.0, 1.0], role="method",
             schedule="LH"),
        # does not match: 1.05
        _rec(template, "sched", 1, 4, 150.0, [1.05 * b for b in base], [0.5, 0.5, 0.5], role="method",
             schedule="LL"),
        # no baseline trial at 8 steps: not paired
        _rec(template, "sched", 2, 8, 150.0, base, [0.5, 0.5, 0.5], role="method", schedule="HL"),
    ]
    write_records(run, recs)
    summary = write_report(run)
    rows = {r["trial"]: r for r in summary["matched"]["rows"] if r["arm"] == "sched"}
    assert set(rows) == {0, 1} and summary["matched"]["on"] == ["method.steps"]
    good, bad = rows[0], rows[1]
    assert good["ratio"] == pytest.approx(1.01) and good["ratio_ci"] == pytest.approx([1.01, 1.01])
    assert good["matches"] and not bad["matches"] and bad["ratio_ci"] == pytest.approx([1.05, 1.05])
    assert good["flops_saved"] == pytest.approx(0.25) and bad["flops_saved"] == pytest.approx(0.625)
    assert good["wallclock_saved"] == pytest.approx(0.5) and good["wallclock_saved_ci"] == pytest.approx([0.5, 0.5])
    assert (good["baseline_trial"], good["setting"], good["params"]["method.schedule"]) == (1, {"method.steps": 4}, "LH")
    # heavy-only at fewer steps with at most the schedule's FLOPs: 2 steps (200 <= 300), gen PPL 12
    fewer = good["fewer_baseline_steps"]
    assert fewer["setting"] == {"method.steps": 2} and fewer["flops_saved"] == pytest.approx(0.5)
    assert fewer["ratio"] == pytest.approx(1.01 * sum(base) / 40 / 12) and fewer["beats"] and not fewer["loses"]
    assert bad["fewer_baseline_steps"] is None  # 150 FLOPs: nothing of heavy's is that cheap
    assert summary["matched"]["best"]["sched"]["trial"] == 0  # the largest saving that matches
    md = (run / "report" / "matched.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| sched | steps=4, schedule=LH"))
    assert "1.010 [1.010, 1.010]" in line and "yes (<= 1.02)" in line and "+25.0%" in line
    assert "steps=2: 0." in line and "(beats it)" in line
    assert json.loads((run / "report" / "summary.json").read_text())["matched"]["best"]["sched"]["flops_saved"] == 0.25
    # the confirmation stage re-runs the matched comparison: schedule, its pair and heavy at <= its FLOPs
    assert finalists(load_trials(run), "gen_ppl") == {"heavy": [1, 0], "sched": [0]}


def test_a_study_without_matched_knobs_has_no_matched_table(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    summary = write_report(run)
    assert "matched" not in summary and not (run / "report" / "matched.md").exists()


def test_the_search_nominates_the_largest_saving_within_delta_else_the_closest_schedule():
    from analysis.matched import nominated

    def row(arm, trial, ratio, saved, confirm=False):
        return {"arm": arm, "trial": trial, "ratio": ratio, "flops_saved": saved, "delta": 0.02, "confirm": confirm}

    rows = [row("a", 0, 1.01, 0.10), row("a", 1, 1.019, 0.20), row("a", 2, 1.00, 0.0),  # no saving: never
            row("a", 3, 1.001, 0.30, confirm=True),  # a confirmation is not a nominee
            row("b", 0, 1.05, 0.50), row("b", 1, 1.04, 0.10),  # none within 1.02: the closest
            row("heavy", 0, 1.0, 0.0), row("light", 0, 1.0, 0.4)]  # baselines are not nominated
    picked = nominated(rows, {"a", "b"})
    assert {arm: r["trial"] for arm, r in picked.items()} == {"a": 1, "b": 1}
