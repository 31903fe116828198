"""Roles declared, not inferred: a record names the evaluator model behind its metrics in one
generic field (``evaluator``: label, suffix, fields and their values, as the track declares it),
each metric says whether it used it (``metric_info[m]["evaluator"]``), and analysis reads only
those; run folders written before (``features`` / ``text_eval``) are mapped on load."""

from __future__ import annotations

import ast
import copy
import warnings
from pathlib import Path

import pytest
from analysis_runs import all_records, copy_run, records, write_records

from analysis import build_summary, load_trials, write_report
from analysis.labels import DIVERSITY_NOTE
from analysis.load import evaluator_of_record, legacy_metric_entry
from lightning_modules.tracks import ImagesTrack, PointsTrack, TextTrack

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
DECLARED = {
    "images": {"label": "feature net", "suffix": " features", "name": "digits-classifier",
               "fields": ["name", "test_accuracy", "weights_hash", "feature_dim", "n_reference", "key"]},
    "text": {"label": "evaluator LM", "suffix": "", "name": "shakespeare-char-transformer",
             "fields": ["name", "val_ppl", "n_params", "weights_hash", "key"]},
}
# How records named the evaluator before the generic field: the field, its keys in their order.
LEGACY = {"images": ("features", ["name", "key", "weights_hash", "test_accuracy", "feature_dim", "n_reference"]),
          "text": ("text_eval", ["name", "key", "weights_hash", "val_ppl", "n_params"])}
TABLES = ("front.md", "front.tex", "speedup.md", "speedup.tex")


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _complete(run_dir):
    return [r for r in records(run_dir) if r["state"] == "COMPLETE"]


@pytest.mark.parametrize("track", ["images", "text"])
def test_a_smoke_runs_records_carry_its_declared_evaluator(smoke_runs, track):
    recs = _complete(smoke_runs[track])
    evaluator = recs[0]["evaluator"]
    declared = DECLARED[track]
    assert {k: evaluator[k] for k in ("label", "suffix", "fields", "name")} == declared
    assert list(evaluator) == ["label", "suffix", "fields", *declared["fields"]]
    assert len(evaluator["weights_hash"]) == 16
    assert evaluator["key"].startswith({"images": "feature_net-", "text": "text_lm-"}[track])
    if track == "images":
        assert 0 <= evaluator["test_accuracy"] <= 1 and evaluator["feature_dim"] == 64
        assert evaluator["n_reference"] == 600  # data.n_ref: the whole held-out split
    else:
        assert evaluator["val_ppl"] > 1 and evaluator["n_params"] > 1000
    # One evaluator for the whole study, and no legacy field beside it.
    assert all(r["evaluator"] == evaluator for r in recs)
    assert not any({"features", "text_eval"} & set(r) for r in records(smoke_runs[track]))


def test_metrics_declare_whether_they_use_the_evaluator(smoke_runs):
    images, text, points = ImagesTrack(), TextTrack(), PointsTrack()
    assert [images.metric_info(m).evaluator for m in ("fid", "kid")] == [True, True]
    assert [text.metric_info(m).evaluator for m in ("gen_ppl", "entropy", "distinct_2")] == [True, False, False]
    assert [points.metric_info(m).evaluator for m in ("hist_tv", "sw2", "energy")] == [False, False, False]
    # ... and the records say so.
    image_rec, text_rec, points_rec = (_complete(smoke_runs[t])[0] for t in ("images", "text", "points"))
    assert image_rec["metric_info"] == {"fid": {"label": "FID", "higher_is_better": False, "evaluator": True},
                                        "kid": {"label": "KID", "higher_is_better": False, "evaluator": True}}
    assert text_rec["metric_info"] == {
        "gen_ppl": {"label": "gen PPL", "higher_is_better": False, "evaluator": True},
        "entropy": {"label": "entropy", "higher_is_better": True, "evaluator": False},
        "distinct_2": {"label": "distinct-2", "higher_is_better": True, "evaluator": False}}
    assert {m: e["evaluator"] for m, e in points_rec["metric_info"].items()} == {
        "hist_tv": False, "sw2": False, "energy": False}
    assert points_rec["evaluator"] is None


def test_labels_and_notes_read_as_before(smoke_runs, tmp_path):
    image_run = copy_run(smoke_runs["images"], tmp_path / "images")
    fid = write_report(image_run)
    net = _complete(image_run)[0]["evaluator"]
    assert fid["metric_label"] == "FID (digits-classifier features)"
    assert build_summary(load_trials(image_run), "kid", "nfe")["metric_label"] == "KID (digits-classifier features)"
    n = _complete(image_run)[0]["n_samples"]
    assert (image_run / "report" / "front.md").read_text().strip().splitlines()[-1] == (
        f"Feature net for FID/KID: digits-classifier (test accuracy {net['test_accuracy']:.4g}, weights "
        f"{net['weights_hash']}, 64-d features, 600 reference samples, key {net['key']}); samples per trial: {n}.")

    text_run = copy_run(smoke_runs["text"], tmp_path / "text")
    ppl = write_report(text_run)
    lm = _complete(text_run)[0]["evaluator"]
    assert ppl["metric_label"] == "gen PPL (shakespeare-char-transformer)"
    assert (text_run / "report" / "front.md").read_text().strip().splitlines()[-1] == (
        f"Evaluator LM for gen PPL: shakespeare-char-transformer (val PPL {lm['val_ppl']:.4g}, "
        f"{lm['n_params'] / 1e3:.3g}k parameters, weights {lm['weights_hash']}, key {lm['key']}); "
        f"samples per trial: {_complete(text_run)[0]['n_samples']}. {DIVERSITY_NOTE}")

    points = write_report(copy_run(smoke_runs["points"], tmp_path / "points"))
    assert points["metric_label"] == "histogram TV" and points["evaluators"] == []


def _as_legacy(record):
    """The record as wsbench wrote it before the generic field: the evaluator under the track's
    own field (keys in that day's order), metric_info naming that field, no flag on plain metrics."""
    out = copy.deepcopy(record)
    evaluator = out.pop("evaluator", None)
    field, keys = LEGACY[record["track"]]
    if evaluator:
        out[field] = {k: evaluator[k] for k in keys}
    for entry in (out.get("metric_info") or {}).values():
        if entry.pop("evaluator"):
            entry["evaluator"] = field
    return out


def test_legacy_fields_map_to_the_generic_evaluator():
    legacy = {"features": {"name": "mnist-classifier", "key": "feature_net-1", "weights_hash": "ab",
                           "test_accuracy": 0.9, "feature_dim": 32, "n_reference": 10, "extra": 1}}
    assert evaluator_of_record(legacy) == {
        "label": "feature net", "suffix": " features",
        "fields": ["name", "test_accuracy", "weights_hash", "feature_dim", "n_reference", "key", "extra"],
        "name": "mnist-classifier", "test_accuracy": 0.9, "weights_hash": "ab", "feature_dim": 32,
        "n_reference": 10, "key": "feature_net-1", "extra": 1}
    lm = evaluator_of_record({"text_eval": {"name": "lm", "key": "text_lm-1", "weights_hash": "cd",
                                            "val_ppl": 4.0, "n_params": 5}})
    assert (lm["label"], lm["suffix"], lm["fields"]) == ("evaluator LM", "", ["name", "val_ppl", "n_params",
                                                                              "weights_hash", "key"])
    generic = {"label": "judge", "suffix": "", "fields": ["name"], "name": "j"}
    assert evaluator_of_record({"evaluator": generic, "features": legacy["features"]}) == generic
    assert evaluator_of_record({"evaluator": None}) is None and evaluator_of_record({}) is None
    assert legacy_metric_entry({"label": "FID", "evaluator": "features"}) == {"label": "FID", "evaluator": True}
    assert legacy_metric_entry({"label": "gen PPL", "evaluator": "text_eval"})["evaluator"] is True
    assert legacy_metric_entry({"label": "x", "evaluator": "unknown"})["evaluator"] is False
    assert legacy_metric_entry({"label": "sw2"}) == {"label": "sw2", "evaluator": False}


@pytest.mark.parametrize("track", ["images", "text"])
def test_an_older_run_folder_reports_as_a_new_one(smoke_runs, tmp_path, track):
    new = copy_run(smoke_runs[track], tmp_path / "new")
    old = write_records(copy_run(smoke_runs[track], tmp_path / "old"), [_as_legacy(r) for r in all_records(new)])
    assert "evaluator" not in records(old)[0] and LEGACY[track][0] in records(old)[0]
    expected = write_report(new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one evaluator: no "mix" warning
        summary = write_report(old)
    assert summary == expected  # evaluators, labels, metric_info (evaluator: true), fronts
    for table in TABLES:
        assert (old / "report" / table).read_text() == (new / "report" / table).read_text()
    # A resumed older run: old records and new ones name one evaluator.
    recs = all_records(new)
    half = len(recs) // 2
    mixed = write_records(copy_run(smoke_runs[track], tmp_path / "mixed"),
                          [*map(_as_legacy, recs[:half]), *recs[half:]])
    evaluators = build_summary(load_trials(mixed), expected["metric"], "nfe")["evaluators"]
    assert len(evaluators) == 1 and evaluators == expected["evaluators"]


def _legacy_names(tree: ast.AST) -> list[int]:
    """Lines where the legacy field names appear as strings or attribute/variable names."""
    names = {"features", "text_eval"}
    return [node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Constant) and node.value in names)
            or (isinstance(node, ast.Name) and node.id in names)
            or (isinstance(node, ast.Attribute) and node.attr in names)]


def test_analysis_names_the_legacy_fields_only_in_their_mapping():
    for path in sorted(ANALYSIS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = _legacy_names(tree)
        if path.name == "load.py":
            mapping = next(n for n in tree.body if isinstance(n, ast.Assign)
                           and any(getattr(t, "id", None) == "LEGACY_EVALUATORS" for t in n.targets))
            assert sorted(found) == sorted(_legacy_names(mapping)) and len(found) == 2
        else:
            assert found == [], f"{path.name} names a legacy evaluator field at lines {found}"
