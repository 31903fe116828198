"""The FLUID family end to end on a real tiny run (smoke_text's substrate): stage I and stage II
trained (smoke_text's tiny sections), the decoder and speculative `ar` swept on the forwards, FLOPs, throughput and
batch-1 latency axes, from the records the code writes."""

from __future__ import annotations

import json

import pytest

from analysis.load import load_trials
from sweeps.cli import main

ARMS = ('sweep.arms={'
        '"ar": {set: [method=autoregressive], space: {}}, '
        '"speculative": {set: [method=speculative, method.lookahead=4], space: {}}, '
        '"fluid[k0]": {set: [method=fluid, method.k=0], space: {}}, '
        '"fluid[k4,verify]": {set: [method=fluid, method.k=4, method.gamma=0.0], space: {}}, '
        '"fluid[elastic,verify]": {set: [method=fluid, method.k=4, method.gamma=0.0, method.horizon=elastic], '
        'space: {}}, '
        '"fluid[k4]": {set: [method=fluid, method.k=4, method.verify=false], space: {method.gamma: [0.0, 1.0]}}}')


@pytest.fixture(scope="module")
def fluid_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fluid") / "run"
    code = main(["sweep", "experiment=smoke_text", ARMS, "sweep.confirm=false", "sweep.cost_axis=latency",
                 "eval.latency_windows=4", "eval.n_samples=32", f"sweep.run_dir={run}"])
    assert code == 0
    return run


def _records(run) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for line in (run / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("state") == "COMPLETE":
            out.setdefault(record["arm"], []).append(record)
    return out


def test_verified_decoding_gives_the_one_token_per_pass_samples_in_fewer_passes(fluid_run):
    by = _records(fluid_run)
    one = by["fluid[k0]"][0]
    for arm in ("fluid[k4,verify]", "fluid[elastic,verify]"):
        record = by[arm][0]
        assert record["quality"]["gen_ppl"] == pytest.approx(one["quality"]["gen_ppl"], rel=1e-9)  # same windows
        assert record["cost"]["counters"]["passes"] <= one["cost"]["counters"]["passes"] == 32.0
        passes = record["cost"]["counters"]["passes"]
        assert record["cost"]["networks"]["fluid"]["evals_per_sample"] == pytest.approx(passes)
        assert record["cost"]["nfe"] >= passes  # the head's calls too, in the adapted model's FLOPs
    assert by["speculative"][0]["quality"]["gen_ppl"] == pytest.approx(by["ar"][0]["quality"]["gen_ppl"], rel=1e-9)
    assert by["speculative"][0]["cost"]["counters"]["passes"] < 32.0
    plain = {r["params"]["method.gamma"]: r for r in by["fluid[k4]"]}
    assert plain[1.0]["quality"]["gen_ppl"] == pytest.approx(one["quality"]["gen_ppl"], rel=1e-9)  # gamma 1: k0
    assert plain[0.0]["cost"]["counters"]["stride"] > 1.0  # every proposal committed


def test_every_record_has_batch_one_latency_and_the_report_its_axis(fluid_run):
    for records in _records(fluid_run).values():
        for record in records:
            cost = record["cost"]
            assert cost["latency_s"] > 0 and len(cost["latency_runs_s"]) == 1  # one timed run in the search
            assert cost["throughput"] > 0 and cost["flops"] > 0
    trials = load_trials(fluid_run)
    assert trials["latency"].notna().all()
    summary = json.loads((fluid_run / "report" / "summary.json").read_text())
    assert summary["cost_axis"] == "latency" and "latency" in summary["speedup_axes"]
    assert "front_latency.png" in summary["files"]


def test_the_head_is_trained_on_the_oracle_horizons_and_measured(fluid_run):
    record = next(r for r in _records(fluid_run)["fluid[elastic,verify]"])
    head = record["train"]["fluid_head"]
    assert len(head["k_star_shares"]) == 4 and sum(head["k_star_shares"]) == pytest.approx(1.0)
    assert sum(head["head_shares"]) == pytest.approx(1.0) and 0 <= head["head_exact"] <= 1
    assert head["tau_nats"] > 0
    fluid = record["train"]["fluid"]
    assert len(fluid["val_ahead_nats"]) == 4 and fluid["val_bits_per_char"] > 0
