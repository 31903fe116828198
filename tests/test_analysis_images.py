"""write_report on image runs: [n, C, H, W] samples become image grids, and FID/KID are always
labelled with the feature net they were computed on (name, test accuracy, weights hash).

Toy runs are unchanged: their summary has ``features == []`` (no feature net: toy metrics are
computed on the raw coordinates), no ``grids/`` folder and no feature note under the tables.
"""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from analysis import build_summary, format_summary_table, load_trials, write_report
from analysis.plots import _montage, images_in_run, plot_samples, safe_name

IND, WARM, DRAFT = "noise_start[ind]", "warm_start[ppca,noised,ot]", "drafter_only[ppca]"
FEATURES = {
    "name": "digits-classifier",
    "key": "feature_net-3f2a9c",
    "weights_hash": "0123456789abcdef",
    "test_accuracy": 0.97,
    "feature_dim": 64,
    "n_reference": 600,
}
LABEL = "FID (digits-classifier features)"


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _record(arm, method, trial, nfe, fid, *, t0=None, features=FEATURES, sw2=None):
    params = {"method.name": method, "refiner.pairing": "independent", "method.steps": max(nfe, 1)}
    if t0 is not None:
        params["method.t0"] = t0
    if sw2 is None:
        quality = {"fid": fid, "fid_ci": [fid - 1, fid + 1], "kid": fid / 100, "kid_ci": [0, fid]}
        floor = {"fid": 2.0, "kid": 0.001}
    else:
        quality, floor = {"sw2": sw2, "sw2_ci": [sw2 - 0.01, sw2 + 0.01]}, {"sw2": 0.01}
    record = {
        "study": "digits",
        "arm": arm,
        "trial": trial,
        "state": "COMPLETE",
        "method": method,
        "params": params,
        "quality": quality,
        "reference_floor": floor,
        "cost": {"nfe": nfe, "flops": 1e6 * nfe + 1, "wallclock_s": 0.5 * nfe + 0.1},
        "n_samples": 1000,
        "seed": 0,
        "samples_path": f"samples/{arm}/{trial}.npy",
        "drafts_path": f"samples/{arm}/{trial}.drafts.npy" if t0 is not None else None,
    }
    if features is not None:
        record["features"] = dict(features)
    return record


def _images(rng, n, channels=1, size=8):
    return rng.uniform(-1, 1, size=(n, channels, size, size)).astype(np.float32)


def make_image_run(root: Path, *, channels=1, warm_features=FEATURES, reference=True) -> Path:
    """Three arms on 8x8 images: a baseline with 4 budgets, a warm arm with drafts (3 trials,
    one dominated) and a zero-cost drafter; plus one failed trial (no features)."""
    records = [
        _record(IND, "noise_start", 0, 1, 80.0),
        _record(IND, "noise_start", 1, 2, 40.0),
        _record(IND, "noise_start", 2, 4, 20.0),
        _record(IND, "noise_start", 3, 8, 10.0),
        _record(IND, "noise_start", 4, 16, 8.0),
        _record(WARM, "warm_start", 0, 1, 30.0, t0=0.5, features=warm_features),
        _record(WARM, "warm_start", 1, 2, 12.0, t0=0.5, features=warm_features),
        _record(WARM, "warm_start", 2, 2, 15.0, t0=0.8, features=warm_features),
        _record(DRAFT, "drafter_only", 0, 0, 60.0),
        {"study": "digits", "arm": WARM, "trial": 3, "state": "FAIL", "method": "warm_start",
         "params": {"method.t0": 0.9}, "error": "NaN loss"},
    ]  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rng = np.random.default_rng(0)
    if reference:
        np.save(root / "reference.npy", _images(rng, 12, channels))
    for r in records:
        for key in ("samples_path", "drafts_path"):
            if r.get(key):
                (root / r[key]).parent.mkdir(parents=True, exist_ok=True)
                np.save(root / r[key], _images(rng, 10, channels))
    return root


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:4] == b"\x89PNG"
    return struct.unpack(">II", data[16:24])


def test_image_report_grids_features_and_notes(tmp_path):
    run = make_image_run(tmp_path / "run")
    summary = write_report(run)
    out = run / "report"

    # Figures: samples.png/pdf are image rows; one grid PNG per arm.
    assert (out / "samples.pdf").read_bytes()[:4] == b"%PDF"
    # 7.4 in wide; 8 rows of 1.15 in: reference, ind best + cheapest (no drafts), warm best +
    # cheapest (drafts above samples: 4 rows), drafter once (its best is its cheapest).
    assert _png_size(out / "samples.png") == (1110, 1380)
    grids = {f"grids/{safe_name(arm)}.png" for arm in (IND, WARM, DRAFT)}
    assert grids == {
        "grids/noise_start_ind.png",
        "grids/warm_start_ppca_noised_ot.png",
        "grids/drafter_only_ppca.png",
    }
    for name in grids:
        assert _png_size(out / name)[1] > 0
    # ind: reference + 4 budgets (of its 5 front points) + a suptitle line.
    assert abs(_png_size(out / "grids/noise_start_ind.png")[1] - (1.15 * 5 + 0.3) * 150) <= 1
    assert grids | {"samples.png", "samples.pdf", "summary.json"} <= set(summary["files"])
    assert json.loads((out / "summary.json").read_text()) == summary

    # Summary: which FID this is.
    assert summary["metric"] == "fid" and summary["metric_label"] == LABEL
    assert summary["features"] == [{**FEATURES, "arms": [IND, WARM, DRAFT], "n_trials": 9}]
    assert summary["n_samples"] == [1000]
    assert summary["reference_floor"] == {"fid": 2.0, "kid": 0.001}

    note = "digits-classifier (test accuracy 0.97, weights 0123456789abcdef"
    for table in ("front", "speedup"):
        md = (out / f"{table}.md").read_text()
        header, last = md.splitlines()[0], md.strip().splitlines()[-1]
        assert f"{LABEL} [CI]" in header and "| fid" not in header
        assert last.startswith("Feature net for FID/KID: ") and note in last
        assert "samples per trial: 1000" in last
        tex = (out / f"{table}.tex").read_text()
        assert "digits-classifier (test accuracy 0.97, weights 0123456789abcdef" in tex
        assert r"key feature\_net-3f2a9c" in tex
    text = format_summary_table(summary)
    assert text.splitlines()[0] == f"digits: {LABEL}, speed-up vs {IND}"
    assert note in text.splitlines()[-1]

    kid = build_summary(load_trials(run), "kid", "nfe")
    assert kid["metric_label"] == "KID (digits-classifier features)"


def test_mixed_feature_nets_are_flagged(tmp_path):
    retrained = dict(FEATURES, weights_hash="fedcba9876543210", test_accuracy=0.95)
    run = make_image_run(tmp_path / "run", warm_features=retrained)
    with pytest.warns(UserWarning, match="mix 2 different feature nets"):
        summary = write_report(run)
    assert [(f["weights_hash"], f["arms"], f["n_trials"]) for f in summary["features"]] == [
        ("0123456789abcdef", [IND, DRAFT], 6),
        ("fedcba9876543210", [WARM], 3),
    ]
    assert (
        summary["metric_label"]
        == "FID (digits-classifier features; MIXED: 2 different feature nets)"
    )
    last = (run / "report" / "front.md").read_text().strip().splitlines()[-1]
    assert last.startswith("WARNING: the trials mix 2 different feature nets")
    assert "weights fedcba9876543210" in last and f"used by {WARM}" in last


def test_rgb_images_and_no_reference(tmp_path):
    run = make_image_run(tmp_path / "run", channels=3, reference=False)
    trials = load_trials(run)
    assert images_in_run(trials, run)  # decided from the samples when no reference is saved
    paths = plot_samples(trials, run, "fid", "nfe", tmp_path / "samples", LABEL)
    assert [p.name for p in paths] == ["samples.png", "samples.pdf"]
    assert _png_size(paths[0])[1] == round(1.15 * 7 * 150)  # no reference row

    strip = _montage(np.stack([np.full((3, 2, 2), -1.0), np.full((3, 2, 2), 1.0)]), slots=3)
    assert strip.shape == (2, 3 * 3 - 1, 3)  # H, slots * (W + 1 px separator) - 1, C last
    assert strip[:, :2].max() == 0.0 and strip[:, 3:5].min() == 1.0  # [-1, 1] -> [0, 1]
    assert (strip[:, 6:] == 1.0).all()  # empty slot left white


def test_toy_runs_unchanged(tmp_path):
    run = tmp_path / "toy"
    records = [
        _record(IND, "noise_start", 0, 1, 0, features=None, sw2=0.5),
        _record(IND, "noise_start", 1, 4, 0, features=None, sw2=0.1),
    ]
    run.mkdir()
    (run / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rng = np.random.default_rng(0)
    np.save(run / "reference.npy", rng.normal(size=(50, 2)).astype(np.float32))
    for r in records:
        (run / r["samples_path"]).parent.mkdir(parents=True, exist_ok=True)
        np.save(run / r["samples_path"], rng.normal(size=(30, 2)).astype(np.float32))
    assert not images_in_run(load_trials(run), run)
    summary = write_report(run)
    assert summary["features"] == [] and summary["n_samples"] == [1000]
    assert summary["metric_label"] == "sliced W2"
    assert not (run / "report" / "grids").exists()
    assert not any(f.startswith("grids/") for f in summary["files"])
    md = (run / "report" / "front.md").read_text()
    assert md.splitlines()[0].startswith("| arm | NFE per sample | sw2 [CI] |")
    assert "Feature net" not in md and md.endswith("|\n")
    assert "Feature net" not in format_summary_table(summary)
    # 2-D scatter grid as before: reference row + one arm row, 2.8 in each, 6 in wide.
    assert _png_size(run / "report" / "samples.png") == (900, round(2 * 2.8 * 150))
