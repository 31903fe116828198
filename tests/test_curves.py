"""Training curves: every model a smoke run trained by steps has its logged losses in the run
folder (and in the model cache), and the report draws them."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from analysis_runs import copy_run

from analysis import write_report
from sweeps.cache import ArtifactCache


def _step_trained(run_dir) -> dict[str, str]:
    """{key: role} of every model the run's records say was trained by optimiser steps."""
    out = {}
    for line in (run_dir / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        for role, info in (record.get("train") or {}).items():
            if isinstance(info.get("steps"), int) and info["steps"] > 0:
                out[info["key"]] = role
        evaluator = record.get("evaluator") or {}  # the track's evaluator model: one role per track
        if evaluator.get("key"):
            out[evaluator["key"]] = {"images": "feature_net", "text": "text_lm"}[record["track"]]
    return out


@pytest.mark.parametrize("track", ["points", "images", "text"])
def test_every_step_trained_model_of_a_smoke_run_has_its_curve(smoke_runs, track):
    run_dir = smoke_runs[track]
    trained = _step_trained(run_dir)
    index = json.loads((run_dir / "curves" / "index.json").read_text())
    assert trained and set(trained) <= set(index)
    for key, role in trained.items():
        assert index[key]["role"] == role and index[key]["arms"]
        curve = pd.read_csv(run_dir / "curves" / f"{key}.csv")
        assert list(curve.columns[:2]) == ["step", "train/loss"]
        assert curve["step"].is_monotonic_increasing and len(curve) >= 2
        assert all(math.isfinite(v) for v in curve["train/loss"])
        # The same file sits beside the model in the cache.
        cached = ArtifactCache().curve(key)
        assert cached is not None and cached.read_text() == (run_dir / "curves" / f"{key}.csv").read_text()


def test_the_report_draws_the_learning_curves(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    summary = write_report(run)
    assert "learning_curves.png" in summary["files"] and (run / "report" / "learning_curves.pdf").exists()
    (run / "curves" / "index.json").unlink()
    assert "learning_curves.png" not in write_report(run)["files"]  # no curves: no figure


# Every role trained by steps has a held-out loss except the GAN drafter (its losses are a game).
VALIDATED = ("noise_model", "refiner", "drafter", "feature_net", "text_lm")


@pytest.mark.parametrize("track", ["points", "images", "text"])
def test_every_model_with_a_validation_loss_has_a_validation_curve(smoke_runs, track):
    index = json.loads((smoke_runs[track] / "curves" / "index.json").read_text())
    validated = {key: entry["role"] for key, entry in index.items() if entry["role"] in VALIDATED}
    assert {"noise_model", "refiner"} <= set(validated.values())
    # The smoke runs' drafters (GMM, PPCA, n-gram) are fitted in closed form or by EM: no curve.
    evaluator = {"points": "noise_model", "images": "feature_net", "text": "text_lm"}[track]
    assert evaluator in validated.values()
    for key in validated:
        val = pd.read_csv(smoke_runs[track] / "curves" / f"{key}.csv")["val/loss"].dropna()
        assert len(val) >= 2 and all(math.isfinite(v) for v in val)


def _tiny_models():
    """(module, batches, held-out tensors) of every non-refiner model with a validation loss."""
    import torch

    from lightning_modules.drafters.conv_vae import ConvVAEDrafter
    from lightning_modules.drafters.lstm import LSTMDrafter
    from lightning_modules.drafters.vae import VAEDrafter
    from lightning_modules.metrics.evaluator_lm import CausalTransformerLM
    from lightning_modules.metrics.feature_net import ClassifierModule, FeatureClassifier

    g = torch.Generator().manual_seed(0)
    points, images = torch.randn(300, 2, generator=g), torch.rand(300, 1, 8, 8, generator=g) * 2 - 1
    tokens, labels = torch.randint(0, 11, (300, 16), generator=g), torch.randint(0, 10, (300,), generator=g)
    return {
        "vae": (lambda: VAEDrafter(dim=2, latent=2, hidden=16), (points,)),
        "conv_vae": (lambda: ConvVAEDrafter(shape=(1, 8, 8), latent=4, width=8), (images,)),
        "lstm": (lambda: LSTMDrafter(11, 16, width=16), (tokens,)),
        "text_lm": (lambda: CausalTransformerLM(11, 16, width=16, depth=1, heads=2), (tokens,)),
        "feature_net": (lambda: ClassifierModule(FeatureClassifier(1, 8, n_classes=10, width=8, feature_dim=8)),
                        (images, labels)),
    }


@pytest.mark.parametrize("name", ["vae", "conv_vae", "lstm", "text_lm", "feature_net"])
def test_validating_a_drafter_or_an_evaluator_never_moves_its_training(one_thread, name):
    import torch

    from lightning_modules.core.training import fit
    from lightning_modules.core.validation import held_out
    from lightning_modules.data.toy import RandomBatches

    build, data = _tiny_models()[name]

    def train(validate: bool) -> tuple[dict, dict]:
        torch.manual_seed(0)
        module = build()
        val = held_out(*(t[200:] for t in data), batch_size=32, n_batches=2) if validate else None
        info = fit(module, RandomBatches(*(t[:200] for t in data), batch_size=32, seed=3), max_steps=30, seed=3,
                   val_batches=val, checkpoint_every=0)
        return module.state_dict(), info

    (plain, _), (validated, info) = train(False), train(True)
    assert all(torch.equal(plain[k], validated[k]) for k in plain)
    header, *rows = info["curve"].splitlines()
    assert "val/loss" in header and sum(1 for r in rows if r.split(",")[header.split(",").index("val/loss")]) >= 2


def test_validating_never_moves_the_training(one_thread):
    """The validation loss draws its own times and noise inside a forked RNG: the weights a
    training ends with are the same with or without it."""
    import torch

    from lightning_modules.continuous.flow import FlowMatching
    from lightning_modules.core.training import fit
    from lightning_modules.data.toy import FixedBatches, RandomBatches, make_toy
    from lightning_modules.nets.mlp import VelocityMLP

    def train(validate: bool) -> tuple[dict, dict]:
        torch.manual_seed(0)
        net = VelocityMLP(dim=2, hidden=32, depth=2, time_freqs=4)
        module = FlowMatching(net, mode="noise", lr=2e-3, ema_decay=0.9, max_steps=40)
        val = FixedBatches(RandomBatches(make_toy("moons", 500, seed=1), batch_size=64, seed=1)) if validate else None
        info = fit(module, RandomBatches(make_toy("moons", 2000, seed=0), batch_size=64, seed=3), max_steps=40,
                   seed=3, val_batches=val, checkpoint_every=0)
        return module.state_dict(), info

    (plain, _), (validated, info) = train(False), train(True)
    assert all(torch.equal(plain[k], validated[k]) for k in plain)
    assert "val/loss" in info["curve"].splitlines()[0]


def test_early_stopping_on_the_validation_loss_says_what_ended_the_training(one_thread):
    import torch

    from lightning_modules.continuous.flow import FlowMatching
    from lightning_modules.core.training import fit
    from lightning_modules.data.toy import FixedBatches, RandomBatches, make_toy
    from lightning_modules.nets.mlp import VelocityMLP

    def train(patience: int) -> dict:
        torch.manual_seed(0)
        module = FlowMatching(VelocityMLP(dim=2, hidden=16, depth=1, time_freqs=2), mode="noise", lr=5e-2,
                              ema_decay=0.9, max_steps=400)
        val = FixedBatches(RandomBatches(make_toy("moons", 500, seed=1), batch_size=64, seed=1), n=1)
        return fit(module, RandomBatches(make_toy("moons", 2000, seed=0), batch_size=16, seed=3), max_steps=400,
                   seed=3, val_batches=val, early_stop=patience, checkpoint_every=0)

    stopped, whole = train(1), train(0)
    assert stopped["stopped_by"] == "plateau" and stopped["steps"] < 400
    assert whole["stopped_by"] == "budget" and whole["steps"] == 400


def test_early_stopping_is_part_of_a_refiners_identity_only_when_on(tmp_path):
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore

    store = ModelStore(ArtifactCache(tmp_path))
    keys = {p: store.key("refiner", compose([f"refiner.train.early_stop={p}"])) for p in (0, 3)}
    assert keys[0] == store.key("refiner", compose([])) and keys[3] != keys[0]
