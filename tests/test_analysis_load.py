"""Reading trials.jsonl: the shared reader's torn-line rule, refusing old records, flattening
real records, duplicates, and import hygiene."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from analysis_runs import all_records, clone, copy_run, failed, records, write_records

from analysis.load import load_trials
from analysis.records import read_records
from analysis.trials import arm_knobs, default_metric, knob_columns, metrics_of

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def points(smoke_runs, tmp_path):
    return copy_run(smoke_runs["points"], tmp_path / "run")


# --- read_records: the reader sweeps and analysis share ------------------------------------


def test_torn_last_line_is_ignored_with_a_warning(points):
    recs, n_search = all_records(points), len(records(points))
    text = (points / "trials.jsonl").read_text()
    (points / "trials.jsonl").write_text(text + json.dumps(recs[0])[:40])  # killed mid-write
    with pytest.warns(
        UserWarning, match=rf"trials\.jsonl:{len(recs) + 1}: ignoring a torn last line"
    ):
        assert read_records(points) == recs
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(load_trials(points)) == n_search  # confirmations are not rows
    # The same path may be given as the file itself.
    with pytest.warns(UserWarning):
        assert read_records(points / "trials.jsonl") == recs


def test_bad_middle_line_is_an_error_naming_file_and_line(points):
    lines = (points / "trials.jsonl").read_text().splitlines()
    lines.insert(2, lines[0][:40])  # a torn line that is not last
    (points / "trials.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"trials\.jsonl:3: malformed JSON"):
        read_records(points)
    # A last line that ends with a newline was written whole: malformed means broken.
    (points / "trials.jsonl").write_text("\n".join([*lines[:2], lines[0][:40]]) + "\n")
    with pytest.raises(ValueError, match=r"trials\.jsonl:3: malformed JSON"):
        read_records(points)
    (points / "trials.jsonl").write_text(lines[0] + "\n[1, 2]\n")
    with pytest.raises(ValueError, match=r"trials\.jsonl:2: expected a JSON object, got list"):
        read_records(points)


def test_blank_lines_missing_and_complete_last_line(points, tmp_path):
    recs = records(points)
    (points / "trials.jsonl").write_text("\n" + json.dumps(recs[0]) + "\n\n" + json.dumps(recs[1]))
    assert read_records(points) == recs[:2]  # a whole last record without newline is kept
    with pytest.raises(FileNotFoundError, match="no trials.jsonl in run folder"):
        read_records(tmp_path / "nowhere")
    assert read_records(tmp_path / "nowhere", missing_ok=True) == []
    with pytest.raises(FileNotFoundError, match="no trials.jsonl in run folder"):
        load_trials(tmp_path)


# --- what analysis refuses ------------------------------------------------------------------


def test_old_format_records_are_refused_with_one_line(points, capsys):
    old = [{k: v for k, v in r.items() if k not in ("track", "role")} for r in records(points)]
    write_records(points, old)
    with pytest.raises(ValueError) as err:
        load_trials(points)
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        f"{points / 'trials.jsonl'} was written by an older wsbench (records lack 'track' and "
        "'role'); re-run the sweep into a new run folder"
    )
    from sweeps.cli import main

    assert main(["analyze", str(points)]) == 2
    assert capsys.readouterr().err.strip() == f"wsbench: error: {message}"


def test_bad_role_mixed_tracks_and_empty_file(points):
    recs = records(points)
    write_records(points, [clone(recs[0], role="teacher"), *recs[1:]])
    with pytest.raises(
        ValueError, match=r"role='teacher'; allowed: \['baseline', 'method', 'drafter'\]"
    ):
        load_trials(points)
    write_records(points, [clone(recs[0], track="images"), *recs[1:]])
    with pytest.raises(ValueError, match=r"records mix tracks \['images', 'points'\]"):
        load_trials(points)
    write_records(points, [])
    with pytest.raises(ValueError, match="no trials recorded"):
        load_trials(points)


# --- flattening real records ----------------------------------------------------------------


def test_flattened_columns_match_the_records(smoke_runs):
    run = smoke_runs["points"]
    recs, frame = records(run), load_trials(run)
    assert len(frame) == len(recs)
    for rec, (_, row) in zip(recs, frame.iterrows(), strict=True):
        assert (row["arm"], row["method"], row["trial"], row["state"]) == (
            rec["arm"], rec["method"], rec["trial"], rec["state"]
        )  # fmt: skip
        assert (row["track"], row["role"], row["knobs"]) == (
            "points",
            rec["role"],
            tuple(rec["knobs"]),
        )
        assert row["t0"] == rec["params"]["method.t0"]
        assert (row["nfe"], row["flops"]) == (rec["cost"]["nfe"], rec["cost"]["flops"])
        assert row["wallclock"] == pytest.approx(rec["cost"]["wallclock_s"] / rec["n_samples"])
        for metric, value in rec["quality"].items():
            if metric.endswith("_ci"):
                name = metric[:-3]
                assert [row[f"q.{name}_lo"], row[f"q.{name}_hi"]] == value
            else:
                assert row[f"q.{metric}"] == value
                assert row[f"floor.{metric}"] == rec["reference_floor"][metric]
        for key, value in rec["params"].items():  # JSON null becomes NaN
            assert row[f"param.{key}"] == value or (
                value is None and math.isnan(row[f"param.{key}"])
            )
    quality = [k for k in recs[0]["quality"] if not k.endswith("_ci")]
    assert metrics_of(frame) == quality
    assert default_metric(frame) == recs[0]["primary_metric"]
    assert frame.attrs["track"] == "points"
    assert frame.attrs["metric_info"] == recs[0]["metric_info"]


def test_knobs_per_arm_and_table_columns(smoke_runs):
    frame = load_trials(smoke_runs["points"])
    by_arm = {r["arm"]: r["knobs"] for r in records(smoke_runs["points"])}
    assert arm_knobs(frame) == by_arm
    assert by_arm["drafter_only[gmm4]"] == []
    assert by_arm["warm_start[gmm4]"][:2] == ["method.t0", "method.steps"]
    assert "method.t0" not in by_arm["noise_start[indep]"]
    # The union keeps each arm's display order: t0 (warm_start only) goes before steps,
    # although the baseline, listed first, has steps and no t0.
    columns = knob_columns(frame)
    assert set(columns) == {k for knobs in by_arm.values() for k in knobs}
    assert columns[:2] == ["method.t0", "method.steps"]
    for knobs in by_arm.values():
        assert [k for k in columns if k in knobs] == knobs


def test_missing_numbers_are_nan_and_failed_trials_kept(points):
    recs = records(points)
    edited = clone(recs[1])
    edited["quality"].pop("sw2_ci")
    edited["quality"]["energy"] = None
    write_records(points, [*recs[:1], edited, failed(recs[0], trial=99, error="boom"), *recs[2:]])
    frame = load_trials(points)
    row = frame.iloc[1]
    assert math.isnan(row["q.sw2_lo"]) and math.isnan(row["q.energy"])
    fail = frame.loc[frame["trial"] == 99].iloc[0]
    assert fail["state"] == "FAIL" and fail["error"] == "boom"
    assert math.isnan(fail["nfe"]) and math.isnan(fail["q.sw2"])


def test_duplicate_arm_trial_keeps_last_and_warns(points):
    recs = records(points)
    again = clone(recs[0])
    again["quality"]["sw2"] = 0.5
    write_records(points, [*recs, again])
    with pytest.warns(UserWarning, match="more than once, keeping the last"):
        frame = load_trials(points)
    assert len(frame) == len(recs)
    rows = frame.loc[(frame["arm"] == recs[0]["arm"]) & (frame["trial"] == recs[0]["trial"])]
    assert rows["q.sw2"].tolist() == [0.5]


def test_import_pulls_no_torch_lightning_or_sweeps():
    code = (
        "import sys, analysis, analysis.figures, analysis.report, analysis.tracks;"
        "import analysis.tracks.points, analysis.tracks.images, analysis.tracks.text;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'lightning', 'pytorch_lightning', 'sweeps', 'lightning_modules'));"
        "print(','.join(bad))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == ""
