"""write_report on points runs: the smoke sweep's real run folder, and hand-computed speed-ups
on copies of its records whose values are set by hand.

Hand computation (qualities dyadic), sliced W2 ("sw2"), NFE axis; the target is the
baseline's best point estimate (no CI half-width added):
- noise_start[indep] (primary): best 0.0625 at nfe 8 -> target 0.0625, baseline cost 8.
- noise_start[ot] (a copy of the baseline with OT pairing): best 0.046875 at nfe 4.
- warm: vs indep, nfe 2 (0.046875 and 0.0625; nfe 1 gives 0.0703125 > 0.0625) -> 8 / 2 =
  4.0x (its grid starts at nfe 1: not a lower bound); vs ot, nfe 2 (0.046875) -> 2.0x.
- ot vs indep: nfe 2 (0.0625, on the target) -> 4.0x; indep vs ot: never reaches.
- drafter: 0.375 -> never reaches both.
Wall-clock (per sample): baselines 0.5 s x nfe, warm 0.5 s x nfe + 0.25 s, over n samples.
- warm vs indep: 4 / 1.25 -> 3.2x; vs ot: 2 / 1.25 -> 1.6x; ot vs indep: 4 / 1 -> 4.0x.
These records carry no replicates (hand-set values), so no interval is shown; intervals are
tested on real replicates in test_speedup_intervals.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from analysis_runs import (
    clone,
    copy_run,
    failed,
    md_cells,
    md_rows,
    of_arm,
    png_size,
    records,
    write_records,
)

from analysis import format_summary_table, pareto_front, write_report

IND, OT = "noise_start[indep]", "noise_start[ot]"
WARM, DRAFT = "warm_start[gmm4]", "drafter_only[gmm4]"
FLOOR = 0.0078125


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def make_run(real: Path, dest: Path, *, with_samples: bool = True) -> Path:
    """Four arms (two baselines, a warm arm with a t0 sweep, a drafter) and one failed trial,
    each record a copy of one the smoke sweep wrote, with hand-set values."""
    run = copy_run(real, dest)
    recs = records(run)
    base, warm, draft = (of_arm(recs, arm)[0] for arm in (IND, WARM, DRAFT))

    def rec(template, arm, trial, nfe, sw2, *, ci=None, t0=None, drafter_s=0.0, pairing=None):
        params = {"method.steps": max(nfe, 1)} if "method.steps" in template["knobs"] else {}
        if t0 is not None:
            params["method.t0"] = t0
        if pairing:
            params["refiner.pairing"] = pairing
        lo, hi = ci or (sw2 - 0.01, sw2 + 0.01)
        out = clone(template, arm=arm, trial=trial, params=params)
        out["quality"].update(sw2=sw2, sw2_ci=[lo, hi], energy=2 * sw2, energy_ci=[0, 4 * sw2])
        out["reference_floor"].update(sw2=FLOOR, energy=0.001)
        out.pop("quality_boot")  # hand-set values: no replicates (as with eval.n_boot = 0)
        out["cost"].update(nfe=nfe, flops=100.0 * nfe + 1, wallclock_s=0.5 * nfe + drafter_s)
        if not with_samples:
            out["samples_path"] = out["drafts_path"] = None
        return out

    ot = {"pairing": "minibatch_ot"}
    write_records(run, [
        rec(base, IND, 0, 1, 0.5),
        rec(base, IND, 1, 2, 0.25),
        rec(base, IND, 2, 4, 0.078125),
        rec(base, IND, 3, 8, 0.0625, ci=(0.046875, 0.078125)),
        rec(base, OT, 0, 1, 0.125, **ot),
        rec(base, OT, 1, 2, 0.0625, **ot),
        rec(base, OT, 2, 4, 0.046875, ci=(0.0390625, 0.0546875), **ot),
        rec(warm, WARM, 0, 1, 0.25, t0=0.5, drafter_s=0.25),
        rec(warm, WARM, 1, 2, 0.046875, t0=0.5, drafter_s=0.25),
        rec(warm, WARM, 2, 1, 0.0703125, t0=0.8, drafter_s=0.25),
        rec(warm, WARM, 3, 2, 0.0625, t0=0.8, drafter_s=0.25),
        failed(clone(warm, params={"method.t0": 0.9}), trial=4, error="NaN loss"),
        rec(draft, DRAFT, 0, 0, 0.375, drafter_s=0.25),
    ])  # fmt: skip
    if not with_samples:
        (run / "reference.npy").unlink()
    return run


FIGURES = ["front_nfe", "front_flops", "front_wallclock", "speedup_vs_t0", "samples", "learning_curves"]
TABLES = ["front", "speedup", "confirmed"]  # confirmed: the smoke run ran confirmation looks


def _no_nan(token):
    raise AssertionError(f"non-strict JSON constant {token}")


def test_real_points_run_report(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    summary = write_report(run)
    out = run / "report"
    expected = {f"{f}.{ext}" for f in FIGURES for ext in ("png", "pdf")}
    expected |= {f"{t}.{ext}" for t in TABLES for ext in ("md", "tex")} | {"summary.json"}
    assert set(summary["files"]) == expected
    assert all((out / name).stat().st_size > 0 for name in expected)
    assert (out / "samples.pdf").read_bytes()[:4] == b"%PDF"
    assert json.loads((out / "summary.json").read_text(), parse_constant=_no_nan) == summary

    assert (summary["track"], summary["study"], summary["cost_axis"]) == ("points", "smoke", "nfe")
    assert summary["metric"] == recs[0]["primary_metric"]
    assert summary["metric_label"] == recs[0]["metric_info"][summary["metric"]]["label"]
    assert summary["baseline"] == IND and summary["baselines"] == [IND]
    assert summary["roles"] == {IND: "baseline", WARM: "method", DRAFT: "drafter"}
    assert summary["evaluators"] == []  # points: no evaluator model, recorded as null
    assert all("evaluator" in r and r["evaluator"] is None for r in recs if r["state"] == "COMPLETE")
    assert not (out / "grids").exists()
    # Each arm's front is the Pareto front of its records' (nfe, quality) points.
    metric = summary["metric"]
    for arm, front in summary["front"].items():
        points = [(r["cost"]["nfe"], r["quality"][metric]) for r in of_arm(recs, arm)]
        idx = pareto_front([p[0] for p in points], [p[1] for p in points])
        assert front == [list(points[i]) for i in idx]
    assert set(summary["speedup_at_iso_quality"][IND]) == {WARM, DRAFT}
    # Samples: reference row + one row per arm, two panels each, 6 in x 2.8 in per row.
    assert png_size(out / "samples.png") == (900, round(4 * 2.8 * 150))
    md = (out / "front.md").read_text()
    knobs = [k.removeprefix("method.") for k in summary["knobs"]]
    assert md_rows(md)[0] == ["arm", "NFE per sample", f"{metric} [CI]", *knobs, "trial"]
    assert knobs[:2] == ["t0", "steps"]
    assert "Feature net" not in md and md.endswith("|\n")
    assert "Feature net" not in format_summary_table(summary)


def test_speedup_vs_t0_has_only_method_arms_with_a_t0_knob(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    assert {r["arm"]: r["params"]["method.t0"] for r in recs if r["arm"] != WARM} == {
        IND: 0.0, DRAFT: 1.0
    }  # fmt: skip
    by_t0 = write_report(run)["speedup_vs_t0"]
    assert list(by_t0) == [WARM]  # not the baseline (t0 = 0), not the drafter (t0 = 1)
    t0s = sorted({r["params"]["method.t0"] for r in of_arm(recs, WARM)})
    assert [p["t0"] for p in by_t0[WARM]] == t0s == [0.5, 0.8]
    # Role decides, not the knob list: a baseline declaring t0 stays out; a method arm that
    # does not declare t0 (its t0 is fixed) stays out too.
    edited = []
    for r in recs:
        if r["arm"] == IND:
            r = clone(r, knobs=["method.t0", *r["knobs"]])
        edited.append(r)
    second = [
        clone(r, arm="warm_start[fixed t0]", knobs=["method.steps"]) for r in of_arm(recs, WARM)
    ]
    write_records(run, edited + second)
    assert list(write_report(run)["speedup_vs_t0"]) == [WARM]


def test_a_declared_knob_is_a_table_column(smoke_runs, tmp_path):
    # A plugin-like method knob: declared in the records' knobs, it gets its own column.
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    for i, r in enumerate(recs):
        if r["arm"] == WARM:
            recs[i] = clone(r, params={"method.gamma": 0.25 * (1 + r["trial"] % 2)},
                            knobs=[*r["knobs"], "method.gamma"])  # fmt: skip
    summary = write_report(write_records(run, recs))
    assert summary["knobs"][-1] == "method.gamma" and "method.gamma" in summary["arm_knobs"][WARM]
    md = (run / "report" / "front.md").read_text()
    rows = md_rows(md)
    gamma = rows[0].index("gamma")
    assert rows[0][gamma + 1 :] == ["trial"]
    by_trial = {r["trial"]: r for r in of_arm(recs, WARM)}
    for row in rows[2:]:
        if row[0] == WARM:
            assert float(row[gamma]) == by_trial[int(row[-1])]["params"]["method.gamma"]
        else:
            assert row[gamma] == "—"  # arms that do not declare the knob
    assert set(md_cells(md, DRAFT)[3:-1]) == {"—"}  # drafter_only declares no knob
    assert "gamma" in (run / "report" / "front.tex").read_text()


def test_unknown_track_uses_the_generic_renderer(smoke_runs, tmp_path):
    # A plugin's track: analysis has no renderer for it, so no sample figure, but everything
    # else; its own metric (higher-is-better, with its own label) shows beside the front metric.
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    for r in recs:
        r["track"] = "my_plugin_track"
        r["quality"]["coverage"], r["quality"]["coverage_ci"] = 0.5, [0.4, 0.6]
        r["reference_floor"]["coverage"] = 0.9
        r["metric_info"]["coverage"] = {"label": "mode coverage", "higher_is_better": True}
        r["metric_info"]["sw2"] = {"label": "plugin W2", "higher_is_better": False}
    summary = write_report(write_records(run, recs), metric="sw2")
    out = run / "report"
    assert summary["track"] == "my_plugin_track" and summary["metric_label"] == "plugin W2"
    assert summary["diversity_metrics"] == ["coverage"]
    names = set(summary["files"])
    assert {"summary.json", "front.md", "front.tex", "speedup.md", "speedup.tex"} <= names
    assert {"front_nfe.png", "front_wallclock.pdf", "speedup_vs_t0.png"} <= names
    assert not any(n.startswith(("samples", "grids/")) for n in names)
    assert not (out / "samples.png").exists()
    front = (out / "front.md").read_text()
    assert md_rows(front)[0][:4] == ["arm", "NFE per sample", "sw2 [CI]", "mode coverage [CI]"]
    floor = md_cells(front, "reference floor")
    assert floor[:2] == ["reference floor", "—"] and floor[3] == "0.9"
    assert float(floor[2]) == pytest.approx(recs[0]["reference_floor"]["sw2"], rel=1e-3)
    speed = (out / "speedup.md").read_text()
    assert "mode coverage at best [CI]" in speed.splitlines()[0]
    assert "mode coverage at best" in format_summary_table(summary)
    with pytest.raises(ValueError, match="metric='coverage' is higher-is-better"):
        write_report(run, metric="coverage")


def test_report_files_and_summary_values(smoke_runs, tmp_path):
    run = make_run(smoke_runs["points"], tmp_path / "run")
    n = records(run)[0]["n_samples"]
    summary = write_report(run, metric="sw2")
    out = run / "report"
    assert json.loads((out / "summary.json").read_text(), parse_constant=_no_nan) == summary
    assert (summary["metric"], summary["cost_axis"]) == ("sw2", "nfe")
    assert summary["metric_label"] == records(run)[0]["metric_info"]["sw2"]["label"]
    assert summary["baseline"] == IND and summary["baselines"] == [IND, OT]
    assert (
        summary["reference_floor"]["sw2"] == FLOOR and summary["reference_floor"]["energy"] == 0.001
    )
    assert summary["front"] == {
        IND: [[1, 0.5], [2, 0.25], [4, 0.078125], [8, 0.0625]],
        OT: [[1, 0.125], [2, 0.0625], [4, 0.046875]],
        WARM: [[1, 0.0703125], [2, 0.046875]],
        DRAFT: [[0, 0.375]],
    }
    assert summary["fronts_by_axis"]["nfe"] == summary["front"]
    np.testing.assert_allclose(
        summary["fronts_by_axis"]["wallclock"][WARM], [[0.75 / n, 0.0703125], [1.25 / n, 0.046875]]
    )
    assert summary["n_trials"] == {IND: 4, OT: 3, WARM: 5, DRAFT: 1}
    assert summary["n_failed"] == {IND: 0, OT: 0, WARM: 1, DRAFT: 0}

    vs_ind, vs_ot = summary["speedup_at_iso_quality"][IND], summary["speedup_at_iso_quality"][OT]
    assert set(vs_ind) == {OT, WARM, DRAFT} and set(vs_ot) == {IND, WARM, DRAFT}
    assert vs_ind[WARM] == {
        "status": "ok",
        "value": 4.0,
        "text": "4.0x",
        "target": 0.0625,
        "baseline_cost": 8.0,
        "method_cost": 2.0,
        "method_trial": 1,
        "baseline_trial": 3,
        "interval": {
            "ci": 0.95,
            "n_boot": 0,
            "text": None,
            "why": "no bootstrap replicates recorded (eval.n_boot = 0 or an older run)",
        },
        "display": "4.0x",
        "verdict": {"word": None, "to_decide": None},  # no replicates: no interval decides
    }
    assert (vs_ind[OT]["status"], vs_ind[OT]["value"], vs_ind[OT]["text"]) == ("ok", 4.0, "4.0x")
    assert vs_ind[DRAFT]["status"] == "never_reaches" and vs_ind[DRAFT]["value"] is None
    assert (vs_ot[WARM]["status"], vs_ot[WARM]["value"], vs_ot[WARM]["target"]) == (
        "ok",
        2.0,
        0.046875,
    )
    assert vs_ot[IND]["text"] == "never reaches"
    assert summary["speedup_by_axis"]["nfe"] == summary["speedup_at_iso_quality"]

    wall = summary["speedup_by_axis"]["wallclock"][IND]
    assert wall[WARM]["status"] == "ok" and wall[WARM]["text"] == "3.2x"
    assert wall[WARM]["value"] == pytest.approx(4 / 1.25)
    assert wall[OT]["status"] == "ok" and wall[OT]["value"] == pytest.approx(4.0)

    by_t0 = summary["speedup_vs_t0"]
    assert list(by_t0) == [WARM]
    assert [(r["t0"], r["status"], r["value"]) for r in by_t0[WARM]] == [
        (0.5, "ok", 4.0),
        (0.8, "ok", 4.0),
    ]
    warm = of_arm(records(run), WARM)[0]
    expected = {k: warm["params"][k] for k in warm["knobs"]} | {"method.t0": 0.5, "method.steps": 2}
    assert summary["best_quality"][WARM]["knobs"] == expected


def test_tables_markdown_and_latex(smoke_runs, tmp_path):
    run = make_run(smoke_runs["points"], tmp_path / "run")
    write_report(run, metric="sw2", tolerance=0)  # the strict target only (tolerant: test_verdicts.py)
    md = (run / "report" / "speedup.md").read_text()
    header = md.splitlines()[0]
    assert "vs noise_start[indep] (NFE)" in header and "vs noise_start[ot] (wall-clock)" in header
    assert md_cells(md, WARM) == [
        WARM,
        "0.04688 [0.03687, 0.05688]",
        "0.04688",  # in search: no confirmation in these records, so the same trial
        "0.007812",
        "4.0x",
        "4.0x",  # FLOPs: (100 * 8 + 1) / (100 * 2 + 1) = 3.985
        "3.2x",
        "2.0x",
        "2.0x",  # (100 * 4 + 1) / 201 = 1.995
        "1.6x",
    ]
    assert md_cells(md, IND)[4:6] == ["baseline", "baseline"]
    assert "not re-evaluated on fresh seeds" in md
    tex = (run / "report" / "speedup.tex").read_text()
    assert r"warm\_start{[}gmm4{]}" in tex and "4.0x" in tex
    assert "\\toprule" in tex and tex.count(r"\\") == 1 + 4  # header + one row per arm
    front = md_rows((run / "report" / "front.md").read_text())
    assert len(front) == 2 + 4 + 3 + 2 + 1  # header, separator, front points per arm
    assert front[0][:5] == ["arm", "NFE per sample", "sw2 [CI]", "t0", "steps"]
    rows = {(r[0], r[-1]): r for r in front[2:]}
    assert rows[WARM, "2"][:5] == [WARM, "1", "0.07031 [0.06031, 0.08031]", "0.8", "1"]
    assert rows[IND, "0"][:5] == [IND, "1", "0.5 [0.49, 0.51]", "—", "1"]  # no t0 knob
    assert rows[DRAFT, "0"][:3] == [DRAFT, "0", "0.375 [0.365, 0.385]"]
    assert set(rows[DRAFT, "0"][3:-1]) == {"—"}
    solver = front[0].index("solver")
    assert rows[WARM, "2"][solver] == of_arm(records(run), WARM)[0]["params"]["method.solver"]


def test_metric_and_axis_choice_and_missing_samples(smoke_runs, tmp_path):
    run = make_run(smoke_runs["points"], tmp_path / "run", with_samples=False)
    summary = write_report(run, metric="energy", cost_axis="wallclock", out=tmp_path / "elsewhere")
    assert summary["metric"] == "energy" and summary["cost_axis"] == "wallclock"
    assert (tmp_path / "elsewhere" / "samples.png").is_file()
    assert not (run / "report").exists()
    # energy = 2 sw2: the indep target is its best energy, 2 x 0.0625 (no half-width added).
    assert summary["speedup_at_iso_quality"][IND][WARM]["target"] == 0.125
    assert summary["speedup_by_axis"].keys() == {"nfe", "flops", "wallclock"}
    with pytest.raises(ValueError, match="metric='fid' is not in the trials"):
        write_report(run, metric="fid")
    with pytest.raises(ValueError, match="cost_axis='joules' is not one of"):
        write_report(run, cost_axis="joules")


def test_format_summary_table(smoke_runs, tmp_path):
    text = format_summary_table(
        write_report(make_run(smoke_runs["points"], tmp_path / "run"), metric="sw2")
    )
    lines = text.splitlines()
    assert lines[0] == f"smoke: sw2, speed-up vs {IND}"
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows[WARM] == [WARM, "0.04688", "2", "4.0x", "4.0x", "3.2x"]  # NFE, FLOPs, wall-clock
    assert rows[IND] == [IND, "0.0625", "8", "baseline", "baseline", "baseline"]
    assert rows[DRAFT][-6:] == ["never", "reaches"] * 3
