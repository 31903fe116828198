"""Method counters (``cost.counters``: per-sample means a method reports, by name) are carried
through analysis without analysis knowing any: a ``counter.<name>`` column per counter, a
``counters`` dict at each arm's best point and its confirmation in summary.json, and one
front-table column per counter the study reported (none when no record has counters).

Runs: the points smoke sweep's real records (which report no counters), with counters set by
hand on copies: the baseline reports one counter, the warm-start arm two, the drafter none.
"""

import json
import math
from pathlib import Path

import pytest
from analysis_runs import all_records, copy_run, md_rows, records, write_records

from analysis import load_trials, write_report
from analysis.counters import counter_names

IND, WARM, DRAFT = "noise_start[indep]", "warm_start[gmm4]", "drafter_only[gmm4]"
PASSES, TOKENS = "router_passes", "tokens_per_pass"  # names analysis has never heard of


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def counters_for(record):
    """The hand-set counters of one record: search trials vary with the trial, the warm arm's
    confirmation has its own values, the baseline's confirmation and the drafter report none."""
    arm, trial, again = record["arm"], record["trial"], bool(record.get("confirm"))
    if arm == WARM:
        return {PASSES: 100.0, TOKENS: 7.0} if again else {PASSES: 10.0 + trial, TOKENS: 0.5 * (trial + 1)}
    if arm == IND and not again:
        return {PASSES: 1.0 + trial}
    return None


@pytest.fixture()
def counted(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = all_records(run)
    assert {r["arm"] for r in recs} == {IND, WARM, DRAFT}
    for r in recs:
        r["cost"].pop("counters", None)
        if counters_for(r) is not None:
            r["cost"]["counters"] = counters_for(r)
    write_records(run, recs)
    return run


def front_rows(run: Path) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """front.md's header and its rows by (arm, trial)."""
    header, _, *rows = md_rows((run / "report" / "front.md").read_text())
    return header, {(row[0], row[-1]): row for row in rows}


def test_counters_become_columns_of_the_trials_table(counted):
    trials = load_trials(counted)
    assert counter_names(trials) == [PASSES, TOKENS]  # first-seen order
    for r in records(counted):
        row = trials.loc[(trials["arm"] == r["arm"]) & (trials["trial"] == r["trial"])].iloc[0]
        expected = counters_for(r) or {}
        for name in (PASSES, TOKENS):
            value = row[f"counter.{name}"]
            assert value == expected[name] if name in expected else math.isnan(value)
    assert "cost.counters" not in trials  # a dict is not one number


def test_summary_carries_counters_at_each_best_point_and_its_confirmation(counted):
    summary = write_report(counted)
    assert summary["counters"] == [PASSES, TOKENS]
    on_disk = json.loads((counted / "report" / "summary.json").read_text())
    assert on_disk["best_quality"] == summary["best_quality"]
    again = {(r["arm"], r["confirm_of"]): r for r in all_records(counted) if r.get("confirm") and r["look"] == 1}
    searched = {(r["arm"], r["trial"]): r for r in records(counted)}
    for arm, best in summary["best_quality"].items():
        again[arm] = again[arm, best["trial"]]  # the best setting's confirmation (look 1: the search's n)
        search = counters_for(searched[arm, best["trial"]]) or {}
        confirmed = counters_for(again[arm]) or {}
        assert best["search"]["counters"] == search
        assert best["confirmed"]["counters"] == confirmed
        assert best["counters"] == confirmed  # the point shown is the confirmation's
    assert summary["best_quality"][WARM]["counters"] == {PASSES: 100.0, TOKENS: 7.0}
    assert summary["best_quality"][IND]["search"]["counters"] != {}


def test_front_table_has_a_column_per_counter(counted):
    summary = write_report(counted)
    header, rows = front_rows(counted)
    knobs = [k.removeprefix("method.") for k in summary["knobs"]]
    assert header == ["arm", "NFE per sample", f"{summary['metric']} [CI]", PASSES, TOKENS, *knobs, "trial"]
    searched = {(r["arm"], str(r["trial"])): r for r in records(counted)}
    assert rows and set(rows) <= set(searched)
    for key, row in rows.items():
        expected = counters_for(searched[key]) or {}
        cells = [f"{expected[n]:.4g}" if n in expected else "—" for n in (PASSES, TOKENS)]
        assert row[3:5] == cells
    assert {key[0] for key in rows} == {IND, WARM, DRAFT}
    tex = (counted / "report" / "front.tex").read_text()
    assert r"router\_passes & tokens\_per\_pass" in tex


@pytest.mark.parametrize("recorded", ["empty", "absent"])
def test_without_counters_nothing_is_added(smoke_runs, tmp_path, recorded):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = all_records(run)
    for r in recs:
        if recorded == "absent":  # records from before counters existed
            r.get("cost", {}).pop("counters", None)
        else:
            r["cost"]["counters"] = {}
    write_records(run, recs)
    assert not any(c.startswith("counter.") for c in load_trials(run).columns)
    summary = write_report(run)
    assert summary["counters"] == []
    for best in summary["best_quality"].values():
        assert best["counters"] == best["search"]["counters"] == best["confirmed"]["counters"] == {}
    header, _ = front_rows(run)
    knobs = [k.removeprefix("method.") for k in summary["knobs"]]
    assert header == ["arm", "NFE per sample", f"{summary['metric']} [CI]", *knobs, "trial"]


def test_analysis_names_no_counter():
    source = "\n".join(p.read_text() for p in (Path(__file__).parents[1] / "analysis").rglob("*.py"))
    assert PASSES not in source and TOKENS not in source
