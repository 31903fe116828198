"""Models trained side by side in worker processes equal the ones trained in-process."""

import torch

from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.models import ModelStore
from sweeps.prefetch import dependencies, planned, resolve_workers, train_missing

SMOKE = ["experiment=smoke", "refiner.train.steps=30"]


def test_planned_lists_each_distinct_model_once():
    cfg, arms = build_arms(SMOKE)
    jobs = planned(ModelStore(ArtifactCache("unused")), arms)
    # noise model, gmm4 drafter (shared by warm_start and drafter_only), one t0-conditioned refiner
    assert sorted(name for name, _ in jobs) == ["drafter", "noise_model", "refiner"]


def test_parallel_training_matches_serial_training_in_dependency_order(tmp_path):
    cfg, arms = build_arms(SMOKE)
    caches, lines = {}, []
    for workers in (1, 2):
        store = ModelStore(ArtifactCache(tmp_path / f"w{workers}"), log=lambda *_: None)
        torch.manual_seed(1234 + workers)  # a disturbed global RNG must not change the models
        jobs = planned(store, arms)
        train_missing(store, jobs, workers=workers, threads=1, cache_dir=str(tmp_path / f"w{workers}"),
                      log=lines.append if workers == 2 else lambda *_: None)
        caches[workers] = (store, jobs)
    # A refiner waits for its drafter, a noise model for nothing: the drafter (others train on
    # it) and the noise model start together, the refiner once the drafter is trained.
    keys = {name: store.key(name, job_cfg) for name, job_cfg in jobs}
    waits = dependencies(store, {store.key(n, c): (n, c) for n, c in jobs})
    assert waits == {keys["drafter"]: set(), keys["noise_model"]: set(), keys["refiner"]: {keys["drafter"]}}
    order = [" ".join(x.split()[:2]) for x in lines if x.split()[0] in ("queued", "trained")]
    assert order[:2] == ["queued drafter", "queued noise_model"]
    assert order.index("trained drafter") < order.index("queued refiner")
    store1, jobs = caches[1]
    store2, _ = caches[2]
    for name, job_cfg in jobs:
        key = store1.key(name, job_cfg)
        assert store2.cache.has(key), f"{name} was not trained by the worker processes"
        serial, _ = store1.cache.load(key)
        parallel, _ = store2.cache.load(key)
        assert serial.keys() == parallel.keys()
        for k in serial:
            assert torch.equal(serial[k], parallel[k]), f"{name}.{k} differs"


def test_resolve_workers():
    assert resolve_workers(4, 2) == 2
    assert resolve_workers(1, 9) == 1
    assert 1 <= resolve_workers("auto", 3) <= 3
