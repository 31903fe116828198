"""What was written before the rebuild: cached models keep their keys (so they still load);
run folders whose records lack track and role (or their settings) are refused in one line, not mixed."""

from __future__ import annotations

import json

import pytest

from sweeps import study as study_mod
from sweeps.cache import ArtifactCache
from sweeps.cli import main
from sweeps.config import compose
from sweeps.errors import ConfigError
from sweeps.models import ModelStore

# Cache keys computed by the code before the rebuild (commit 6877933) for these configs; the
# refiners' keys changed once since, on purpose, when the per-sample streams that make their
# training drafts changed layout (seeding.DRAWS): a refiner trained on other drafts is retrained.
OLD_KEYS = {
    (): {"drafter": "drafter-095f4a217c83383b", "noise_model": "noise_model-44e9333d492af7e1",
         "refiner": "refiner-534479c4e6482a2a"},
    ("experiment=smoke_digits",): {"drafter": "drafter-c2c9736b5b489ad3",
                                   "noise_model": "noise_model-d277ac6165231174",
                                   "refiner": "refiner-e605f5bd9742fdbb", "feature_net": "feature_net-17fafb638ab92c83"},
    ("experiment=smoke_text",): {"drafter": "drafter-809553c07257170a", "noise_model": "noise_model-c6d9f3f6a3b7adfb",
                                 "refiner": "refiner-d693c5c88d10e892", "text_lm": "text_lm-e0acb575fe672cf1"},
    # experiment=shakespeare's refiner of those days, spelled out since issue 13 changed the study
    ("experiment=shakespeare", "drafter=lstm", "refiner.pairing=teacher_forced", "refiner.start=noised",
     "refiner.net.depth=2", "refiner.train.steps=2000", "refiner.train.lr=3e-3",
     "refiner.train.ema_decay=0.995"): {"drafter": "drafter-ee37d73f88d794e7", "refiner": "refiner-596c24d8e07177b8"},
}


@pytest.mark.parametrize("overrides", list(OLD_KEYS), ids=lambda o: " ".join(o) or "default")
def test_models_cached_before_the_rebuild_keep_their_keys(tmp_path, overrides):
    store = ModelStore(ArtifactCache(tmp_path))
    cfg = compose(list(overrides))
    assert {role: store.key(role, cfg) for role in OLD_KEYS[overrides]} == OLD_KEYS[overrides]


def test_cached_reference_features_keep_their_key(tmp_path):
    from lightning_modules.tracks.images import ImagesTrack

    key = ImagesTrack.reference_features_key(compose(["experiment=smoke_digits"]), {"feature_net": "abc"},
                                             ArtifactCache(tmp_path))
    assert key == "reference_features-532c4c07af8da816"  # computed by the code of commit 6877933


def test_a_run_folder_of_an_older_wsbench_is_refused_in_one_line(workdir, capsys):
    run_dir = workdir / "runs" / "smoke"
    run_dir.mkdir(parents=True)
    old = {"study": "smoke", "arm": "noise_start[indep]", "trial": 0, "state": "COMPLETE", "method": "noise_start"}
    (run_dir / "trials.jsonl").write_text(json.dumps(old) + "\n")
    with pytest.raises(ConfigError, match=r"^sweep\.run_dir=.* holds 1 record\(s\) written before records carried "
                       r"their settings \(config_key\)"):
        study_mod.run_study(["experiment=smoke"], log=lambda *_: None)
    assert (run_dir / "trials.jsonl").read_text().count("\n") == 1  # nothing appended
    assert main(["analyze", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "older wsbench" in err[0]


def test_every_record_of_each_tracks_smoke_run_says_its_track_and_role(smoke_runs):
    for track, run_dir in smoke_runs.items():
        records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
        assert records and {r["track"] for r in records} == {track}
        assert {r["role"] for r in records} == {"baseline", "method", "drafter"}
