"""Resumable training: a training stopped after a checkpoint and resumed ends with the weights
of an uninterrupted one (optimiser, scheduler, EMA, RNG and data position restored)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from lightning_modules.continuous.flow import FlowMatching
from lightning_modules.core.training import fit
from lightning_modules.data.toy import RandomBatches, make_toy
from lightning_modules.nets.mlp import VelocityMLP

STEPS, EVERY = 60, 20


def _train(folder: Path | None, max_steps: int = STEPS) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = VelocityMLP(dim=2, hidden=32, depth=2, time_freqs=4)
    module = FlowMatching(net, mode="noise", pairing="minibatch_ot", lr=2e-3, ema_decay=0.9, max_steps=STEPS)
    batches = RandomBatches(make_toy("moons", 2000, seed=0), batch_size=64, seed=3)
    info = fit(module, batches, max_steps=max_steps, seed=3, checkpoint_dir=folder, checkpoint_every=EVERY)
    return {"resumed_from": info["resumed_from"], "curve": info["curve"],
            **{k: v.clone() for k, v in module.state_dict().items()}}


def test_a_stopped_training_resumes_to_the_uninterrupted_weights(tmp_path, one_thread):
    whole = _train(None)
    part = _train(tmp_path, max_steps=2 * EVERY + 5)  # stops after its checkpoint at step 40
    assert (tmp_path / "last.ckpt").exists() and part["resumed_from"] == 0
    resumed = _train(tmp_path)
    assert resumed.pop("resumed_from") == 2 * EVERY
    whole.pop("resumed_from")
    # The curve goes on from where it stopped: the same rows as the uninterrupted training's.
    assert resumed.pop("curve") == whole.pop("curve")
    part.pop("curve")
    assert resumed.keys() == whole.keys() and any("ema" in k for k in whole)
    assert all(torch.equal(resumed[k], whole[k]) for k in whole), [k for k in whole if not torch.equal(resumed[k], whole[k])]


# One arm, two models: the GMM drafter, then the refiner trained on its drafts (killed mid-way).
TRAIN = [sys.executable, "-m", "sweeps.cli", "train", "-q", "experiment=smoke", "refiner.train.steps=1500",
         "train_checkpoint_every=100", "train_workers=1", "sweep.only=[\"warm_start[gmm4]\"]"]


def _models(cache: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {p.parent.name: torch.load(p, weights_only=True) for p in cache.glob("*/model.pt")}


def test_a_training_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    env = {**os.environ, "WSBENCH_CACHE": str(killed)}
    proc = subprocess.Popen(TRAIN, env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(killed.glob("*/checkpoints/last.ckpt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (partial,) = [p.parents[1] for p in killed.glob("*/checkpoints/last.ckpt")]
    assert not (partial / "model.pt").exists()  # a partial training is never a cached model
    subprocess.run(TRAIN, env=env, cwd=tmp_path, check=True, capture_output=True)
    meta = json.loads((partial / "meta.json").read_text())
    assert meta["train"]["resumed_from"] > 0 and not (partial / "checkpoints").exists()
    subprocess.run(TRAIN, env={**os.environ, "WSBENCH_CACHE": str(whole)}, cwd=tmp_path, check=True,
                   capture_output=True)
    resumed, uninterrupted = _models(killed), _models(whole)
    assert resumed.keys() == uninterrupted.keys() and partial.name in resumed and len(resumed) == 2
    for key, state in uninterrupted.items():
        assert all(torch.equal(resumed[key][k], v) for k, v in state.items()), key
    # The resumed model's curve starts at step 0 and equals the uninterrupted one's.
    curve = (partial / "curve.csv").read_text()
    assert curve == (whole / partial.name / "curve.csv").read_text() and curve.splitlines()[1].startswith("0,")
