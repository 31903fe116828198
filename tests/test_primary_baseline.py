"""The primary baseline is the one the study declares (``primary_baseline`` in every record),
else the first baseline arm in file order; a refiner's pairing never decides it.

Runs: the points smoke sweep's real records, with a second baseline arm made by copying the
noise-start baseline's records (``noise_start[ot]``, OT-paired, its sliced W2 halved so the
two targets differ) and written FIRST, so file order and pairing point at different arms and
only the rule under test can pick the right one.
"""

import pytest
from analysis_runs import all_records, clone, copy_run, records, write_records

from analysis import baseline_arms, build_summary, format_summary_table, load_trials

IND, OT, WARM = "noise_start[indep]", "noise_start[ot]", "warm_start[gmm4]"


@pytest.fixture()
def two_baselines(smoke_runs, tmp_path):
    """A points run with baselines OT (first in the file, minibatch_ot) and IND (independent)."""
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = all_records(run)
    assert {r["params"]["refiner.pairing"] for r in recs if r["arm"] == IND} == {"independent"}
    ot = [clone(r, arm=OT, params={"refiner.pairing": "minibatch_ot"}) for r in recs if r["arm"] == IND]
    for r in ot:
        r["quality"]["sw2"] /= 2
        r["quality"]["sw2_ci"] = [v / 2 for v in r["quality"]["sw2_ci"]]
        r["quality_boot"]["sw2"] = [v / 2 for v in r["quality_boot"]["sw2"]]
    write_records(run, [*ot, *recs])
    return run


def declare(run, primary):
    """Every record of ``run`` declares ``primary`` (None: no record declares one)."""
    recs = all_records(run)
    for r in recs:
        r.pop("primary_baseline", None)
        if primary is not None:
            r["primary_baseline"] = primary
    write_records(run, recs)


def test_the_sweep_declares_its_primary_baseline_in_every_record(smoke_runs):
    for run in smoke_runs.values():
        declared = {r.get("primary_baseline") for r in records(run)}
        baselines = {r["arm"] for r in records(run) if r["role"] == "baseline"}
        assert len(declared) == 1 and declared <= baselines


@pytest.mark.parametrize("primary", [IND, OT])
def test_the_declared_baseline_is_primary_whatever_its_order_or_pairing(two_baselines, primary):
    declare(two_baselines, primary)
    trials = load_trials(two_baselines)
    assert baseline_arms(trials) == (primary, [OT, IND])
    summary = build_summary(trials, "sw2", "nfe")
    assert summary["baseline"] == primary and summary["baselines"] == [OT, IND]
    # Speed-ups are still given against every baseline; speed-up vs t0 against the primary.
    assert set(summary["speedup_by_axis"]["nfe"]) == {OT, IND}
    targets = {b: summary["speedup_by_axis"]["nfe"][b][WARM]["target"] for b in (OT, IND)}
    assert targets[OT] == pytest.approx(targets[IND] / 2)
    assert {p["target"] for p in summary["speedup_vs_t0"][WARM]} == {targets[primary]}
    assert summary["speedup_at_iso_quality"] == summary["speedup_by_axis"]["nfe"]
    assert format_summary_table(summary).splitlines()[0].endswith(f"speed-up vs {primary}")


@pytest.mark.parametrize("declared", [None, WARM, "no_such_arm"])
def test_without_a_declared_baseline_arm_the_first_baseline_is_primary(two_baselines, declared):
    # None: older records; WARM: not a baseline; no_such_arm: not in the trials.
    declare(two_baselines, declared)
    trials = load_trials(two_baselines)
    assert baseline_arms(trials) == (OT, [OT, IND])  # IND's independent pairing does not count
    assert build_summary(trials, "sw2", "nfe")["baseline"] == OT


def test_no_baseline_arm_means_no_primary(two_baselines):
    recs = [r for r in all_records(two_baselines) if r["arm"] not in (IND, OT)]
    write_records(two_baselines, recs)  # they still declare IND
    assert baseline_arms(load_trials(two_baselines)) == (None, [])
