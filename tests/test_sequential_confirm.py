"""Sequential confirmations (sweeps.confirm): looks that grow n on the same fresh seeds stop when
every comparison is decided, at the look cap, or at the budget; every evaluation is a record in
trials.jsonl, and the summary's confirmed speed-ups are read off the last look."""

import json

import numpy as np
import pytest
from analysis_runs import all_records, confirmations

from analysis import write_report
from analysis.intervals import speedup_interval
from analysis.measured import Points
from analysis.terminal import format_summary_table
from sweeps.confirm import GROWTH, _narrowed, experiment_seconds
from sweeps.errors import ConfigError
from sweeps.study import run_study

QUIET = {"log": lambda *args, **kwargs: None}
SMOKE = ["experiment=smoke", "eval.n_samples=400"]


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """The toy smoke study with an unlimited budget and two looks: warm_start[gmm4] stays
    undecided (tiny nets), so the confirmations run both looks and stop at the cap."""
    run = tmp_path_factory.mktemp("capped") / "run"
    lines = []
    run_study([*SMOKE, f"sweep.run_dir={run}", "sweep.confirm_looks=2", "sweep.confirm_budget=1000"],
              report=False, log=lines.append)
    return run, lines


def test_looks_extend_n_for_the_open_arms_and_stop_at_the_cap(capped):
    run, lines = capped
    again = confirmations(run)
    looks = sorted({c["look"] for c in again})
    assert looks == [1, 2]
    first = [c for c in again if c["look"] == 1]
    second = [c for c in again if c["look"] == 2]
    assert {c["n_samples"] for c in first} == {400}
    (n2,) = {c["n_samples"] for c in second}  # one n per look: its replicates pair
    assert n2 % 400 == 0 and GROWTH[0] <= n2 // 400 <= GROWTH[1]
    assert len({c["seed"] for c in again}) == 1  # the same fresh seeds, extended
    # Look 2 re-evaluates the baseline and the arms still open after look 1, nothing else.
    assert {c["arm"] for c in second} == {"noise_start[indep]", "warm_start[gmm4]"}
    assert "drafter_only[gmm4]" in {c["arm"] for c in first}
    assert any("look 1 of 2" in line and "decided drafter_only[gmm4]" in line for line in lines)
    assert all(c["rule"] == first[0]["rule"] and c["rule"]["looks"] == 2 for c in again)
    # Every evaluation is its own record; none is dropped or overwritten.
    hashes = [c["config_hash"] for c in again]
    assert len(hashes) == len(set(hashes))
    assert len(all_records(run)) == len([r for r in all_records(run) if not r.get("confirm")]) + len(again)


def test_the_summary_reads_the_last_look_and_states_the_rule(capped, tmp_path):
    run, _ = capped
    summary = write_report(run)
    c = summary["confirmed"]
    assert [look["look"] for look in c["looks"]] == [1, 2]
    assert c["ci"] == pytest.approx(1 - 0.05 / 2)
    ws = c["speedup_by_axis"]["nfe"]["noise_start[indep]"]["warm_start[gmm4]"]
    drafter = c["speedup_by_axis"]["nfe"]["noise_start[indep]"]["drafter_only[gmm4]"]
    assert ws["look"] == 2 and ws["n_samples"] == c["looks"][1]["n_samples"]
    assert drafter["look"] == 1 and drafter["verdict"]["word"] == "faster"
    assert ws["interval"]["n_boot"] == 40 and ws["interval"]["ci"] == c["ci"]
    assert c["stopped"]["drafter_only[gmm4]"] == {"look": 1, "why": "decided"}
    assert c["stopped"]["warm_start[gmm4]"]["look"] == 2
    if ws["verdict"]["word"] == "undecided":
        assert c["stopped"]["warm_start[gmm4]"]["why"] == "cap: looks"
    md = (run / "report" / "confirmed.md").read_text()
    head = md.splitlines()[0]
    assert head.startswith("| arm | look (n) | vs noise_start[indep] (NFE) |")
    assert "| vs noise_start[indep] at ≤ 4 NFE (NFE) |" in head and "| vs noise_start[indep] within 1% (NFE) |" in head
    assert "| drafter_only[gmm4] | 1 (400), decided | drafter suffices" in md
    assert "2 look(s) at n = 400, " in md and "at most 2 looks: Bonferroni" in md
    assert "confirmed.md" in summary["files"] and "are in confirmed.md" in (run / "report" / "speedup.md").read_text()
    terminal = format_summary_table(summary)  # the headline: the confirmed speed-ups and their rule
    assert "speed-up NFE, confirmed" in terminal and "2 look(s) at n = 400, " in terminal
    small = c["speedup_budget_by_axis"]["nfe"]["noise_start[indep]"]["warm_start[gmm4]"]
    assert small["look"] == 2 and c["budget"] == 4
    assert json.loads((run / "report" / "summary.json").read_text())["confirmed"]["looks"][0]["n_samples"] == 400


def test_a_rerun_recomputes_no_look(capped, monkeypatch):
    run, _ = capped
    before = (run / "trials.jsonl").read_text()
    from sweeps import runner as runner_mod

    calls = []
    monkeypatch.setattr(runner_mod.SweepRunner, "_evaluate_into", lambda *a: calls.append(a))
    run_study([*SMOKE, f"sweep.run_dir={run}", "sweep.confirm_looks=2", "sweep.confirm_budget=1000"],
              report=False, **QUIET)
    assert calls == [] and (run / "trials.jsonl").read_text() == before


def test_a_zero_budget_stops_after_look_one(tmp_path):
    run = tmp_path / "run"
    lines = []
    run_study([*SMOKE, f"sweep.run_dir={run}", "sweep.confirm_budget=0"], report=False, log=lines.append)
    assert {c["look"] for c in confirmations(run)} == {1}
    assert any("stop before look 2 of 3 (the budget)" in line for line in lines)


def test_experiment_seconds_counts_each_model_once():
    records = [
        {"seconds": 2.0, "train": {"refiner": {"key": "r1", "seconds": 10.0}}},
        {"seconds": 3.0, "train": {"refiner": {"key": "r1", "seconds": 10.0}, "drafter": {"key": "d", "seconds": 1}}},
        {"seconds": 5.0, "confirm": True, "train": {"refiner": {"key": "r1", "seconds": 10.0}}},
    ]
    assert experiment_seconds(records) == 2.0 + 3.0 + 10.0 + 1.0


def test_timing_noise_widens_the_wallclock_interval():
    """Same quality replicates; with each trial's timed runs resampled per replicate, the
    wall-clock interval is at least as wide and reproducible."""
    rng = np.random.default_rng(0)
    boot_b = 0.2 + 0.001 * rng.standard_normal((1, 200))
    boot_m = 0.1 + 0.001 * rng.standard_normal((1, 200))
    base = Points.of([1.0], [0.2], boot=boot_b, nfe=[64])
    method = Points.of([0.25], [0.1], boot=boot_m, nfe=[8])
    flat = speedup_interval(base, method)
    assert flat["lo"] == flat["hi"] == pytest.approx(4.0)
    noisy_b = Points.of([1.0], [0.2], boot=boot_b, nfe=[64], runs=[[0.7, 1.0, 1.4]])
    noisy_m = Points.of([0.25], [0.1], boot=boot_m, nfe=[8], runs=[[0.2, 0.25, 0.4]])
    noisy = speedup_interval(noisy_b, noisy_m)
    assert noisy["lo"] < 4.0 < noisy["hi"]
    assert noisy["lo"] >= 0.7 / 0.4 and noisy["hi"] <= 1.4 / 0.2
    assert speedup_interval(noisy_b, noisy_m) == noisy


def test_a_rerun_under_another_rule_is_refused(capped):
    run, _ = capped
    before = (run / "trials.jsonl").read_text()
    with pytest.raises(ConfigError, match=r"sweep\.confirm_\*.*looks: 2 -> 3.*another sweep\.run_dir"):
        run_study([*SMOKE, f"sweep.run_dir={run}", "sweep.confirm_budget=1000"], report=False, **QUIET)
    assert (run / "trials.jsonl").read_text() == before


def test_a_later_look_keeps_the_trials_its_undecided_comparisons_need():
    def res(word, method_trial, baseline_trial, deciding=None):
        return {"verdict": {"word": word, "to_decide": {"trial": deciding} if deciding is not None else None},
                "method_trial": method_trial, "baseline_trial": baseline_trial}

    plan = {"base_a": [6, 2], "base_b": [5], "ws": [11, 3, 9], "done": [1]}
    results = [{"nfe": {"base_a": {"ws": res("undecided", 3, 6, deciding=9), "done": res("faster", 1, 6)},
                        "base_b": {"ws": res("never", None, 5), "done": res("faster", 1, 5)}}},
               {"nfe": {"base_a": {"ws": res("faster", 3, 2)}}}]
    # ws is open: all its finalists run again (a cheaper one may reach the target); its
    # undecided comparison's target came from base_a's 6; base_b is named by no undecided
    # comparison and "done" is decided: neither runs again.
    assert _narrowed(plan, results, ["ws"], ["base_a", "base_b"]) == {"base_a": [6], "ws": [11, 3, 9]}
