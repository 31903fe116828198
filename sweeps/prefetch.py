"""Train every model a study will need before its first trial, several at once.

Training is single-threaded work on small nets, so on an N-core machine N independent models
train side by side in spawned processes. Only training runs in parallel: trials (whose
wall-clock is a measured quantity) still run one at a time, after this. A model starts as soon
as the models it trains on are done (a warm-start refiner waits for its drafter; noise-start
models wait for nothing), those others wait for first, then the longest.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context

from omegaconf import DictConfig, OmegaConf

from lightning_modules.core.registry import METHODS, MODELS, load_plugins
from sweeps.cache import ArtifactCache
from sweeps.config import with_params
from sweeps.models import ModelStore, track_of


def planned(models: ModelStore, arms: list) -> list[tuple[str, DictConfig]]:  # noqa: ANN001
    """(model name, config) for every distinct model the arms need (a grid arm: at every point)."""
    seen: dict[str, tuple[str, DictConfig]] = {}
    for arm in arms:
        for point in (arm.grid() if arm.sampler == "grid" else [{}]):
            cfg = with_params(arm.cfg, point) if point else arm.cfg
            for name in (*METHODS.get(cfg.method.name).needs, *track_of(cfg).evaluators):
                seen.setdefault(models.key(name, cfg), (name, cfg))
    return list(seen.values())


def resolve_workers(value: object, n_jobs: int, threads: int = 1) -> int:
    if value == "auto":  # fill the cores, each worker using `threads` torch threads
        value = (os.cpu_count() or 1) // max(1, threads)
    return max(1, min(int(value), n_jobs))


def _effort(job: tuple[str, DictConfig]) -> float:
    """Rough training time, for longest-first scheduling (the model's own estimate)."""
    name, cfg = job
    return float(MODELS.get(name).effort(cfg))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_one(name: str, cfg_yaml: str, cache_dir: str | None) -> dict:
    cfg = OmegaConf.create(cfg_yaml)
    load_plugins(cfg.get("plugin"))  # a spawned process starts with the built-ins only
    store = ModelStore(ArtifactCache(cache_dir), log=lambda *_: None)
    key = store.key(name, cfg)
    store.get(name, cfg)
    return {"key": key, **store.train_info.get(key, {})}


def train_missing(models: ModelStore, jobs: list[tuple[str, DictConfig]], *, workers: object, threads: int,
                  cache_dir: str | None, log=print) -> None:  # noqa: ANN001
    """Train the jobs not yet in the cache; failures are logged and left to the trials to record."""
    missing = [(n, c) for n, c in jobs if not models.has(models.key(n, c))]
    if not missing:
        return
    n_workers = resolve_workers(workers, len(missing), threads)
    if n_workers == 1:
        import torch

        torch.set_num_threads(threads)
        for name, cfg in missing:
            try:
                models.get(name, cfg)
            except Exception as err:  # noqa: BLE001 - the trials that need it record the failure
                log(f"  training {name} failed: {err.__class__.__name__}: {err}".splitlines()[0])
        return
    log(f"training {len(missing)} model(s) in {n_workers} processes ({threads} thread(s) each)")
    start = time.perf_counter()
    jobs_by_key = {models.key(n, c): (n, c) for n, c in missing}
    waits = dependencies(models, jobs_by_key)
    needed = set().union(*waits.values())
    todo, running, finished = dict(jobs_by_key), {}, set()
    with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        try:
            while todo or running:
                # Submit only as many as there are workers, so the priority order holds: models
                # others train on first, then the longest.
                ready = sorted((k for k in todo if waits[k] <= finished),
                               key=lambda k: (k not in needed, -_effort(todo[k])))
                for key in ready[: n_workers - len(running)]:
                    name, cfg = todo.pop(key)
                    log(f"  queued {name} [{key}]")
                    running[pool.submit(_train_one, name, OmegaConf.to_yaml(cfg), cache_dir)] = (name, key)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, key = running.pop(fut)
                    finished.add(key)  # failed too: the trials that need it record the failure
                    try:
                        info = fut.result()
                    except Exception as err:  # noqa: BLE001
                        log(f"  training {name} [{key}] failed: {err.__class__.__name__}: {err}".splitlines()[0])
                        continue
                    loss = info.get("final_loss")
                    log(f"  trained {name} [{key}] in {info.get('seconds', 0):.1f} s"
                        + (f", final loss {loss:.4g}" if loss is not None else ""))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    log(f"trained {len(missing)} model(s) in {time.perf_counter() - start:.0f} s wall-clock")


def dependencies(models: ModelStore, jobs: dict[str, tuple[str, DictConfig]]) -> dict[str, set[str]]:
    """Per job key, the keys of the jobs it must wait for: the models of the roles its model
    trains after (a warm-start refiner trains on its drafter's drafts) that are themselves
    being trained; a noise-start model waits for nothing."""
    return {key: {models.key(dep, cfg) for dep in MODELS.get(name).after} & jobs.keys()
            for key, (name, cfg) in jobs.items()}
