"""write_report on a synthetic run folder whose speed-ups are computed by hand.

Qualities are dyadic (0.078125 = 5/64, ...) so target sums are exact in floating point.
Hand computation, sliced-W2 ("sw2"), NFE axis:
- noise_start[ind] (primary): best 0.0625, CI [0.046875, 0.078125] -> target 0.078125,
  reached first at nfe 4 (0.078125, exactly on the target).
- noise_start[ot]: best 0.046875, CI [0.0390625, 0.0546875] -> target 0.0546875, at nfe 4.
- warm: vs ind, nfe 1 already meets 0.078125 -> "≥ 4.0x"; vs ot, nfe 2 (0.046875) -> 2.0x.
- ot vs ind: nfe 2 (0.0625) -> 2.0x; ind vs ot: best 0.0625 > 0.0546875 -> never reaches.
- drafter: 0.375 -> never reaches both.
Wall-clock (per sample, n = 1000): baselines 0.5 s x nfe, warm 0.5 s x nfe + 0.25 s.
- warm vs ind: 0.002 / 0.00075 at its cheapest trial -> "≥ 2.7x"; vs ot: 0.002 / 0.00125
  (its only trial under 0.0546875) -> 1.6x.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import format_summary_table, write_report

IND, OT, WARM, DRAFT = (
    "noise_start[ind]",
    "noise_start[ot]",
    "warm_start[gmm,noised,ot]",
    "drafter_only[gmm]",
)
FLOOR = 0.0078125


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _record(
    arm,
    method,
    trial,
    nfe,
    sw2,
    *,
    pairing="independent",
    t0=None,
    ci=None,
    drafter_s=0.0,
    with_samples=True,
):
    params = {"method.name": method, "refiner.pairing": pairing, "method.steps": max(nfe, 1)}
    if t0 is not None:
        params["method.t0"] = t0
    lo, hi = ci or (sw2 - 0.01, sw2 + 0.01)
    return {
        "study": "synthetic",
        "arm": arm,
        "trial": trial,
        "state": "COMPLETE",
        "method": method,
        "params": params,
        "quality": {"sw2": sw2, "sw2_ci": [lo, hi], "energy": 2 * sw2, "energy_ci": [0, 4 * sw2]},
        "reference_floor": {"sw2": FLOOR, "energy": 0.001},
        "cost": {"nfe": nfe, "flops": 100.0 * nfe + 1, "wallclock_s": 0.5 * nfe + drafter_s},
        "n_samples": 1000,
        "seed": 0,
        "samples_path": f"samples/{arm}/{trial}.npy" if with_samples else None,
        "drafts_path": f"samples/{arm}/{trial}.drafts.npy" if with_samples and t0 else None,
    }


def make_run(root: Path, *, with_samples: bool = True) -> Path:
    """Four arms (two baselines, a warm arm with a t0 sweep, a drafter) and one failed trial."""
    s = {"with_samples": with_samples}
    records = [
        _record(IND, "noise_start", 0, 1, 0.5, **s),
        _record(IND, "noise_start", 1, 2, 0.25, **s),
        _record(IND, "noise_start", 2, 4, 0.078125, **s),
        _record(IND, "noise_start", 3, 8, 0.0625, ci=(0.046875, 0.078125), **s),
        _record(OT, "noise_start", 0, 1, 0.125, pairing="minibatch_ot", **s),
        _record(OT, "noise_start", 1, 2, 0.0625, pairing="minibatch_ot", **s),
        _record(
            OT,
            "noise_start",
            2,
            4,
            0.046875,
            pairing="minibatch_ot",
            ci=(0.0390625, 0.0546875),
            **s,
        ),
        _record(WARM, "warm_start", 0, 1, 0.25, t0=0.5, drafter_s=0.25, **s),
        _record(WARM, "warm_start", 1, 2, 0.046875, t0=0.5, drafter_s=0.25, **s),
        _record(WARM, "warm_start", 2, 1, 0.0703125, t0=0.8, drafter_s=0.25, **s),
        _record(WARM, "warm_start", 3, 2, 0.0625, t0=0.8, drafter_s=0.25, **s),
        {
            "study": "synthetic",
            "arm": WARM,
            "trial": 4,
            "state": "FAIL",
            "method": "warm_start",
            "params": {"method.t0": 0.9},
            "error": "NaN loss",
        },
        _record(DRAFT, "drafter_only", 0, 0, 0.375, drafter_s=0.25, **s),
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if with_samples:
        rng = np.random.default_rng(0)
        np.save(root / "reference.npy", rng.normal(size=(64, 2)).astype(np.float32))
        for r in records:
            for key in ("samples_path", "drafts_path"):
                if r.get(key):
                    (root / r[key]).parent.mkdir(parents=True, exist_ok=True)
                    np.save(root / r[key], rng.normal(size=(40, 2)).astype(np.float32))
    return root


FIGURES = ["front_nfe", "front_wallclock", "speedup_vs_t0", "samples"]
TABLES = ["front", "speedup"]


def test_report_files_and_summary_values(tmp_path):
    run = make_run(tmp_path / "run")
    summary = write_report(run)
    out = run / "report"
    expected = {f"{f}.{ext}" for f in FIGURES for ext in ("png", "pdf")}
    expected |= {f"{t}.{ext}" for t in TABLES for ext in ("md", "tex")} | {"summary.json"}
    assert expected <= {p.name for p in out.iterdir()}
    assert all((out / name).stat().st_size > 0 for name in expected)
    assert (out / "front_nfe.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "samples.pdf").read_bytes()[:4] == b"%PDF"

    # The file on disk is strict JSON and equals the returned dict.
    def no_nan(token):
        raise AssertionError(f"non-strict JSON constant {token}")

    assert json.loads((out / "summary.json").read_text(), parse_constant=no_nan) == summary

    assert (summary["study"], summary["metric"], summary["cost_axis"]) == (
        "synthetic",
        "sw2",
        "nfe",
    )
    assert summary["metric_label"] == "sliced W2"
    assert summary["baseline"] == IND and summary["baselines"] == [IND, OT]
    assert summary["reference_floor"] == {"sw2": FLOOR, "energy": 0.001}
    assert summary["front"] == {
        IND: [[1, 0.5], [2, 0.25], [4, 0.078125], [8, 0.0625]],
        OT: [[1, 0.125], [2, 0.0625], [4, 0.046875]],
        WARM: [[1, 0.0703125], [2, 0.046875]],
        DRAFT: [[0, 0.375]],
    }
    assert summary["fronts_by_axis"]["nfe"] == summary["front"]
    np.testing.assert_allclose(
        summary["fronts_by_axis"]["wallclock"][WARM], [[0.00075, 0.0703125], [0.00125, 0.046875]]
    )
    assert summary["n_trials"] == {IND: 4, OT: 3, WARM: 5, DRAFT: 1}
    assert summary["n_failed"] == {IND: 0, OT: 0, WARM: 1, DRAFT: 0}

    vs_ind, vs_ot = summary["speedup_at_iso_quality"][IND], summary["speedup_at_iso_quality"][OT]
    assert set(vs_ind) == {OT, WARM, DRAFT} and set(vs_ot) == {IND, WARM, DRAFT}
    assert vs_ind[WARM] == {
        "status": "lower_bound",
        "value": 4.0,
        "text": "≥ 4.0x",
        "target": 0.078125,
        "baseline_cost": 4.0,
        "method_cost": 1.0,
        "method_trial": 2,
        "baseline_trial": 2,
    }
    assert (vs_ind[OT]["status"], vs_ind[OT]["value"], vs_ind[OT]["text"]) == ("ok", 2.0, "2.0x")
    assert vs_ind[DRAFT]["status"] == "never_reaches" and vs_ind[DRAFT]["value"] is None
    assert (vs_ot[WARM]["status"], vs_ot[WARM]["value"], vs_ot[WARM]["target"]) == (
        "ok",
        2.0,
        0.0546875,
    )
    assert vs_ot[IND]["text"] == "never reaches"
    assert summary["speedup_by_axis"]["nfe"] == summary["speedup_at_iso_quality"]

    wall = summary["speedup_by_axis"]["wallclock"][IND]
    assert wall[WARM]["status"] == "lower_bound" and wall[WARM]["text"] == "≥ 2.7x"
    assert wall[WARM]["value"] == pytest.approx(0.002 / 0.00075)
    assert wall[OT]["status"] == "ok" and wall[OT]["value"] == pytest.approx(2.0)

    by_t0 = summary["speedup_vs_t0"]
    assert list(by_t0) == [WARM]
    assert [(r["t0"], r["status"], r["value"]) for r in by_t0[WARM]] == [
        (0.5, "ok", 2.0),
        (0.8, "lower_bound", 4.0),
    ]


def test_tables_markdown_and_latex(tmp_path):
    run = make_run(tmp_path / "run")
    write_report(run)
    md = (run / "report" / "speedup.md").read_text()
    header = md.splitlines()[0]
    assert "vs noise_start[ind] (NFE)" in header and "vs noise_start[ot] (wall-clock)" in header
    warm_row = next(line for line in md.splitlines() if line.startswith(f"| {WARM} |"))
    cells = [c.strip() for c in warm_row.strip("|").split("|")]
    assert cells == [
        WARM,
        "0.04688 [0.03687, 0.05688]",
        "0.007812",
        "≥ 4.0x",
        "≥ 2.7x",
        "2.0x",
        "1.6x",
    ]
    tex = (run / "report" / "speedup.tex").read_text()
    assert r"warm\_start{[}gmm,noised,ot{]}" in tex and r"$\geq$ 4.0x" in tex
    assert "\\toprule" in tex and tex.count(r"\\") == 1 + 4  # header + one row per arm
    front_md = (run / "report" / "front.md").read_text().splitlines()
    assert len(front_md) == 2 + 4 + 3 + 2 + 1  # header, separator, front points per arm
    assert f"| {WARM} | 1 | 0.07031 [0.06031, 0.08031] | 0.8 | 1 | 2 |" in front_md


def test_metric_and_axis_choice_and_missing_samples(tmp_path):
    run = make_run(tmp_path / "run", with_samples=False)
    summary = write_report(run, metric="energy", cost_axis="wallclock", out=tmp_path / "elsewhere")
    assert summary["metric"] == "energy" and summary["cost_axis"] == "wallclock"
    assert (tmp_path / "elsewhere" / "samples.png").is_file()
    assert not (run / "report").exists()
    # energy = 2 sw2 with CI [0, 4 sw2]: the ind target is 0.125 + 0.125 = 0.25.
    assert summary["speedup_at_iso_quality"][IND][WARM]["target"] == 0.25
    assert summary["speedup_by_axis"].keys() == {"nfe", "wallclock"}
    with pytest.raises(ValueError, match="metric='fid' is not in the trials"):
        write_report(run, metric="fid")
    with pytest.raises(ValueError, match="cost_axis='joules' is not one of"):
        write_report(run, cost_axis="joules")


def test_format_summary_table(tmp_path):
    text = format_summary_table(write_report(make_run(tmp_path / "run")))
    lines = text.splitlines()
    assert lines[0] == "synthetic: sw2, speed-up vs noise_start[ind]"
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows[WARM] == [WARM, "0.04688", "1", "≥", "4.0x", "≥", "2.7x"]
    assert rows[IND] == [IND, "0.0625", "4", "baseline", "baseline"]
    assert rows[DRAFT][-4:] == ["never", "reaches", "never", "reaches"]
