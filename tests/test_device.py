"""The device: every tensor a method makes is made on its models' device; device=cuda without
CUDA stops in one line; CUDA paths run where CUDA exists."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from lightning_modules.core.cost import measure
from lightning_modules.core.registry import METHODS, MODELS, build_method, load_builtins
from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.cli import main
from sweeps.config import compose
from sweeps.models import ModelStore
from sweeps.trial import knob_settings

# Every registered method, on the smoke configuration of a track where it runs.
EXPERIMENTS = ["experiment=smoke", "experiment=smoke_digits", "experiment=smoke_text"]


def _methods_to_trap():
    kinds = {"experiment=smoke": "vector", "experiment=smoke_digits": "image", "experiment=smoke_text": "tokens"}
    load_builtins()
    return [(exp, name) for exp in EXPERIMENTS for name, spec in METHODS.items() if kinds[exp] in spec.kinds]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import os

    return ModelStore(ArtifactCache(os.environ["WSBENCH_CACHE"]), log=lambda *_: None)


SMOKE_STEPS = 1000  # a model the smoke experiments train stays this small (the suite's time)


def _check_smoke_sized(cfg, needs) -> None:  # noqa: ANN001
    """A role with its own settings section (and those it trains on) must be given smoke-sized
    steps in the smoke experiment, or this test would train it at full size."""
    todo, seen = list(needs), set()
    while todo:
        role = todo.pop()
        if role in seen or role not in MODELS:
            continue
        seen.add(role)
        model = MODELS.get(role)
        todo += list(model.after)
        if model.config and "steps" in OmegaConf.select(cfg, model.config, default={}):
            steps = OmegaConf.select(cfg, f"{model.config}.steps")
            assert steps <= SMOKE_STEPS, (f"{model.config}.steps={steps} in this smoke experiment: give the role a "
                                          f"tiny section in conf/experiment/ (<= {SMOKE_STEPS} steps)")


@pytest.mark.parametrize(("experiment", "method"), _methods_to_trap())
def test_every_method_makes_its_tensors_on_its_models_device(store, experiment, method):
    """PyTorch's default device is `meta` while sampling and measuring: a tensor made without
    the method's device lands there, and mixing it with the CPU models fails or leaves meta
    tensors in the samples."""
    cfg = compose([experiment, f"method={method}"])
    spec = METHODS.get(method)
    _check_smoke_sized(cfg, spec.needs)
    models = {need: store.get(need, cfg) for need in spec.needs}
    built = build_method(method, models, knob_settings(cfg))
    torch.set_default_device("meta")
    try:
        batch = measure(built, 6, 0, repeats=3, flop_n=4)
    finally:
        torch.set_default_device(None)
    assert batch.samples.device.type == "cpu" and batch.samples.shape[0] == 6
    if batch.drafts is not None:
        assert batch.drafts.device.type == "cpu"
    assert batch.cost["flops"] >= 0 and not batch.samples.is_meta
    # The ledger saw every evaluation the method itself counted: no network is called around it.
    seen = sum(v["evals_per_sample"] for v in batch.cost["networks"].values())
    assert seen == pytest.approx(batch.cost["evals"]) and (seen > 0) == (method != "drafter_only")


def test_device_cuda_without_cuda_stops_in_one_line(workdir, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["sweep", "experiment=smoke", "device=cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device='cuda' is not allowed: CUDA is not available" in err[0]
    assert not (workdir / "runs").exists() or not any((workdir / "runs").rglob("trials.jsonl"))


def test_device_auto_is_the_cpu_here_and_the_record_says_so(smoke_runs):
    import json

    records = [json.loads(x) for x in (smoke_runs["points"] / "trials.jsonl").read_text().splitlines()]
    assert {r["cost"]["device"] for r in records} == {"cuda" if torch.cuda.is_available() else "cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_method_samples_on_cuda_with_its_models_there(store):
    _, arms = build_arms(["experiment=smoke", "device=cuda"])
    cfg = arms[1].cfg  # warm start
    spec = METHODS.get(cfg.method.name)
    models = {need: store.get(need, cfg) for need in spec.needs}
    assert all(next(iter(m.buffers() if not list(m.parameters()) else m.parameters())).is_cuda
               for m in models.values())
    batch = measure(build_method(spec.name, models, knob_settings(cfg)), 64, 0, repeats=3, device="cuda")
    assert batch.samples.is_cuda and batch.cost["peak_mem_bytes"] > 0


def test_gpu_checks_verdict_on_records_the_code_writes(smoke_runs):
    """`make gpu-check`'s checks, on the smoke run's real records relabelled as a CUDA run."""
    import copy
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gpu_check import check

    cpu = [json.loads(x) for x in (smoke_runs["points"] / "trials.jsonl").read_text().splitlines()]
    assert len(check(cpu, cpu)) == len(cpu)  # a CPU run is not a CUDA run
    cuda = copy.deepcopy(cpu)
    for r in cuda:
        r["cost"]["device"] = "cuda"
    assert check(cuda, cpu) == []
    cuda[0]["cost"]["flops"] *= 2
    cuda[1]["cost"]["timing_repeats"] = 1
    problems = check(cuda, cpu)
    assert len(problems) == 2 and "FLOPs on CUDA" in problems[0] and "1 timed runs" in problems[1]
