"""FID sanity on trained models (slow: trains the digits noise-start U-Net and three drafters).

Run with `make test-slow`. The drafters alone must score a worse FID than the converged
64-step noise-start model; otherwise FID (digits-classifier features) could not tell a
refiner from its drafter.
"""

import pytest

from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.config import with_params
from sweeps.models import ModelStore
from sweeps.trial import Evaluator


@pytest.mark.slow
def test_drafters_score_worse_fid_than_the_64_step_noise_start_model():
    _, arms = build_arms(["experiment=digits", "logger=none"])
    by_name = {a.name: a for a in arms}
    evaluator = Evaluator(ModelStore(ArtifactCache(), log=lambda *_: None))
    baseline = evaluator.evaluate(with_params(by_name["noise_start[indep]"].cfg, {"method.steps": 64}))
    for drafter in ("ppca", "conv_vae", "gan"):
        alone = evaluator.evaluate(by_name[f"drafter_only[{drafter}]"].cfg)
        assert alone.quality["fid"] > baseline.quality["fid_ci"][1], drafter
