"""Per-arm samplers (an arm may search with TPE while the study's grid covers the others) and
the search's own timing repeats (sweep.search_timing_repeats), checked on composed arms and on
the records the text smoke sweep really writes."""

from __future__ import annotations

import pytest
from analysis_runs import all_records

from sweeps.arms import build_arms
from sweeps.errors import ConfigError


def test_an_arm_may_declare_its_own_sampler_and_budget():
    # sweep.only: every arm is composed and checked, but only these have their grids validated
    _, arms = build_arms(["experiment=scheduling", "sweep.only=['mdlm','sched[d2]','sched[d2,tpe]']"])
    by = {a.name: a for a in arms}
    assert (by["sched[d2,tpe]"].sampler, by["sched[d2,tpe]"].n_trials) == ("tpe", 20)
    assert by["mdlm"].sampler == by["sched[d2]"].sampler == "grid"
    assert len(by["sched[d2]"].grid()) == 16 and len(by["mdlm"].grid()) == 9
    _, arms = build_arms(["experiment=smoke", "sweep.arms.warm_start[gmm4].sampler=tpe",
                          "sweep.arms.warm_start[gmm4].n_trials=3"])
    arm = next(a for a in arms if a.name == "warm_start[gmm4]")
    assert (arm.sampler, arm.n_trials) == ("tpe", 3)


@pytest.mark.parametrize(("override", "key", "allowed"), [
    ("sweep.arms.warm_start[gmm4].sampler=random", "sweep.arms.warm_start[gmm4].sampler", "one of grid, tpe, nsga2"),
    ("sweep.arms.warm_start[gmm4].n_trials=0", "sweep.arms.warm_start[gmm4].n_trials", "an integer >= 1 or null"),
    ("sweep.search_timing_repeats=0", "sweep.search_timing_repeats", "an integer >= 1"),
    ("sweep.confirm_n=5", "sweep.confirm_n", "an integer >= 10"),
    ("sweep.match_delta=-0.1", "sweep.match_delta", "a number >= 0"),
])
def test_bad_search_settings_are_refused_in_one_line(override, key, allowed):
    with pytest.raises(ConfigError) as err:
        build_arms(["experiment=smoke", override])
    assert err.value.key == key and allowed in str(err.value) and "\n" not in str(err.value)


def test_search_trials_time_their_own_repeats_and_confirmations_time_eval_timing_repeats(smoke_runs):
    recs = all_records(smoke_runs["text"])  # smoke_text: sweep.search_timing_repeats=1, eval.timing_repeats=3
    search = [r for r in recs if r["state"] == "COMPLETE" and not r.get("confirm")]
    again = [r for r in recs if r.get("confirm") and r["state"] == "COMPLETE"]
    assert search and again
    assert all(r["cost"]["timing_repeats"] == 1 and len(r["cost"]["wallclock_runs_s"]) == 1 for r in search)
    assert all(r["cost"]["timing_repeats"] == 3 and len(r["cost"]["wallclock_runs_s"]) == 3 for r in again)


def test_the_scheduled_arm_records_each_networks_calls_and_its_family(smoke_runs):
    recs = [r for r in all_records(smoke_runs["text"]) if r["arm"] == "sched" and r["state"] == "COMPLETE"]
    assert {r["params"]["method.schedule"] for r in recs if not r.get("confirm")} == {"HL", "LH"}
    for r in recs:
        nets, counters = r["cost"]["networks"], r["cost"]["counters"]
        assert r["family"] == "model scheduling" and r["method"] == "scheduled"
        assert set(nets) == {"heavy", "light"} and r["cost"]["largest_network"] == "heavy"
        assert nets["heavy"]["evals_per_sample"] == pytest.approx(counters["heavy_calls"])
        assert nets["light"]["evals_per_sample"] == pytest.approx(counters["light_calls"])
        assert counters["light_steps"] == 2  # half of 4 steps either way
        assert r["cost"]["flops"] == pytest.approx(sum(v["flops_per_sample"] for v in nets.values()))
        keys = {role: info["key"] for role, info in r["train"].items()}  # both stored as MDLMs, apart
        assert set(keys) == {"mdlm", "mdlm_light"} and keys["mdlm"] != keys["mdlm_light"]
        assert all(k.startswith("mdlm-") for k in keys.values())
