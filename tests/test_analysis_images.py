"""write_report on the image track (the smoke_digits sweep's real run folder): [n, C, H, W]
samples become image grids, and FID/KID are always labelled with the feature net they were
computed on (name, test accuracy, weights hash)."""

import json

import numpy as np
import pytest
from analysis_runs import copy_run, of_arm, png_size, records, write_records

from analysis import build_summary, format_summary_table, load_trials, write_report
from analysis.records import safe_name
from analysis.tracks import Context
from analysis.tracks.images import _montage, plot_image_samples

IND, WARM, DRAFT = "noise_start[indep]", "warm_start[ppca]", "drafter_only[ppca]"
ROW_IN, WIDTH_PX = 1.15, 1110  # one image row is 1.15 in high; figures are 7.4 in wide


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


@pytest.fixture()
def run(smoke_runs, tmp_path):
    return copy_run(smoke_runs["images"], tmp_path / "run")


def _label(rec):
    return f"{rec['metric_info']['fid']['label']} ({rec['evaluator']['name']} features)"


def _picks(recs):
    """Per arm, the trials the samples figure shows, worked out from the records: the best
    (lowest FID, cheaper on ties) and the cheapest (lowest NFE, better on ties), once if equal."""
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in recs):
        rows = of_arm(recs, arm)
        best = min(rows, key=lambda r: (r["quality"]["fid"], r["cost"]["nfe"]))
        cheapest = min(rows, key=lambda r: (r["cost"]["nfe"], r["quality"]["fid"]))
        out[arm] = [best] if best is cheapest else [best, cheapest]
    return out


def _image_rows(recs):
    """Rows of the samples figure below the reference: drafts above samples where saved."""
    return sum(1 + bool(r["drafts_path"]) for shown in _picks(recs).values() for r in shown)


def test_image_report_grids_features_and_notes(run):
    recs = records(run)
    summary = write_report(run)
    out = run / "report"
    label = _label(recs[0])
    assert summary["track"] == "images"

    # Figures: samples.png/pdf are image rows; one grid PNG per arm.
    assert (out / "samples.pdf").read_bytes()[:4] == b"%PDF"
    assert png_size(out / "samples.png") == (
        WIDTH_PX,
        round(ROW_IN * (1 + _image_rows(recs)) * 150),
    )
    grids = {f"grids/{safe_name(arm)}.png" for arm in (IND, WARM, DRAFT)}
    # Brackets are not kept in file names; the short hash keeps look-alike arm names apart.
    assert {g.rsplit("-", 1)[0] for g in grids} == {
        "grids/noise_start_indep",
        "grids/warm_start_ppca",
        "grids/drafter_only_ppca",
    }
    # The baseline's grid: reference + one samples row per front point + a suptitle line.
    n_front = len(summary["front"][IND])
    assert (
        abs(png_size(out / f"grids/{safe_name(IND)}.png")[1] - (ROW_IN * (1 + n_front) + 0.3) * 150)
        <= 1
    )
    assert grids | {"samples.png", "samples.pdf", "sample_grids.png", "sample_grids.pdf",
                    "summary.json"} <= set(summary["files"])
    assert json.loads((out / "summary.json").read_text()) == summary

    # Summary: which FID this is.
    assert summary["metric"] == "fid" and summary["metric_label"] == label
    assert summary["evaluators"] == [
        {**recs[0]["evaluator"], "arms": [IND, WARM, DRAFT], "n_trials": len(recs)}
    ]
    assert summary["n_samples"] == [recs[0]["n_samples"]]

    features = recs[0]["evaluator"]
    note = f"{features['name']} (test accuracy {features['test_accuracy']:.4g}, weights {features['weights_hash']}"
    for table in ("front", "speedup"):
        md = (out / f"{table}.md").read_text()
        header, last = md.splitlines()[0], md.strip().splitlines()[-1]
        assert f"{label} [CI]" in header and "| fid" not in header
        assert last.startswith("Feature net for FID/KID: ") and note in last
        assert f"samples per trial: {recs[0]['n_samples']}" in last
        tex = (out / f"{table}.tex").read_text()
        assert note in tex and "key " + features["key"].replace("_", r"\_") in tex
    text = format_summary_table(summary)
    assert text.splitlines()[0] == f"smoke_digits: {label}, speed-up vs {IND}"
    assert note in text.splitlines()[-1]

    kid = build_summary(load_trials(run), "kid", "nfe")
    assert (
        kid["metric_label"]
        == f"{recs[0]['metric_info']['kid']['label']} ({features['name']} features)"
    )


def test_mixed_feature_nets_are_flagged(run):
    recs = records(run)
    for r in recs:
        if r["arm"] == WARM:
            r["evaluator"].update(weights_hash="fedcba9876543210", test_accuracy=0.5)
    write_records(run, recs)
    with pytest.warns(UserWarning, match="mix 2 different feature nets"):
        summary = write_report(run)
    n_warm = len(of_arm(recs, WARM))
    assert [(f["weights_hash"], f["arms"], f["n_trials"]) for f in summary["evaluators"]] == [
        (recs[0]["evaluator"]["weights_hash"], [IND, DRAFT], len(recs) - n_warm),
        ("fedcba9876543210", [WARM], n_warm),
    ]
    assert summary["metric_label"].endswith("features; MIXED: 2 different feature nets)")
    last = (run / "report" / "front.md").read_text().strip().splitlines()[-1]
    assert last.startswith("WARNING: the trials mix 2 different feature nets")
    assert "weights fedcba9876543210" in last and f"used by {WARM}" in last


def test_rgb_images_and_no_reference(run, tmp_path):
    recs = records(run)
    (run / "reference.npy").unlink()
    for r in recs:  # the same samples as 3-channel images
        for key in ("samples_path", "drafts_path"):
            if r[key]:
                gray = np.load(run / r[key])
                np.save(run / r[key], np.repeat(gray, 3, axis=1))
    trials = load_trials(run)
    summary = build_summary(trials, "fid", "nfe")
    summary["metric_label"] = "FID"
    paths = plot_image_samples(Context(trials, run, tmp_path, summary))
    assert [p.name for p in paths] == ["samples.png", "samples.pdf"]
    assert png_size(paths[0]) == (
        WIDTH_PX,
        round(ROW_IN * _image_rows(recs) * 150),
    )  # no reference row

    strip = _montage(np.stack([np.full((3, 2, 2), -1.0), np.full((3, 2, 2), 1.0)]), slots=3)
    assert strip.shape == (2, 3 * 3 - 1, 3)  # H, slots * (W + 1 px separator) - 1, C last
    assert strip[:, :2].max() == 0.0 and strip[:, 3:5].min() == 1.0  # [-1, 1] -> [0, 1]
    assert (strip[:, 6:] == 1.0).all()  # empty slot left white
