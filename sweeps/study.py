"""Entry points behind the CLI: run a study (all arms) and write its report."""

from __future__ import annotations

import json

import numpy as np
import torch
from omegaconf import OmegaConf

from sweeps.arms import build_arms, run_dir_of
from sweeps.cache import ArtifactCache
from sweeps.errors import ConfigError, StudyFailed
from sweeps.models import ModelStore, data_kind
from sweeps.prefetch import planned, train_missing
from sweeps.results import TrialStore
from sweeps.runner import SweepRunner
from sweeps.storage import make_storage
from sweeps.trial import Evaluator
from sweeps.wandb_log import make_logger


def _device_ok(cfg) -> None:  # noqa: ANN001
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", cfg.device, "cpu here (CUDA is not available), or auto")


def _load_data(models: ModelStore, arms: list) -> None:  # noqa: ANN001
    """Load every arm's data before any compute: missing local files are a one-line error."""
    from lightning_modules.data import MissingDataError

    for arm in arms:
        try:
            dm = models.data(arm.cfg)
        except MissingDataError as err:
            raise ConfigError("data.root", arm.cfg.data.root, str(err).split(": ", 1)[-1]) from None
        except (ValueError, KeyError) as err:  # text: too few documents, a missing hub column...
            raise ConfigError("data", arm.cfg.data.name, str(err)) from None
        if data_kind(arm.cfg) == "text":
            empty = [k for k in ("train", "val", "test") if len(getattr(dm, k)) == 0]
            if empty:
                raise ConfigError("data.seq_len", arm.cfg.data.seq_len, f"shorter: the {'/'.join(empty)} split "
                                  "holds no whole window")
            if arm.cfg.eval.n_samples > len(dm.test):
                # The floor is held-out text of the trial's size (distinct-n depends on n).
                raise ConfigError("eval.n_samples", arm.cfg.eval.n_samples, f"<= {len(dm.test)}, the held-out "
                                  "windows the floor is computed on")


def run_study(overrides: list[str], *, worker: bool = False, report: bool = True, log=print) -> dict | None:  # noqa: ANN001
    """Validate everything, then run every arm; returns the report summary (None for workers)."""
    cfg, arms = build_arms(overrides)
    _device_ok(cfg)
    run_dir = run_dir_of(cfg)
    models = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    _load_data(models, arms)
    storage = make_storage(cfg.sweep.storage, run_dir, owner=not worker, log=log)  # opened before compute: a bad URL stops here
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    log(f"study '{cfg.sweep.study}': {len(arms)} arm(s), sampler {cfg.sweep.sampler}, "
        f"metric {cfg.eval.primary_metric}, run folder {run_dir}")
    train_missing(models, planned(models, arms, cfg.sweep.sampler), workers=cfg.train_workers, threads=int(cfg.threads),
                  cache_dir=cfg.cache_dir, log=log)
    evaluator = Evaluator(models)
    reference, _ = evaluator.reference(arms[0].cfg)
    keep = int(cfg.eval.save_samples)
    if data_kind(arms[0].cfg) == "text":
        decode = models.data(arms[0].cfg).decode
        (run_dir / "reference.json").write_text(json.dumps({"samples": [decode(r) for r in reference[:keep]]}, indent=1))
    else:
        np.save(run_dir / "reference.npy", reference[:keep].numpy())
    logger = make_logger(cfg, run_dir, log)
    SweepRunner(cfg, arms, run_dir, storage, evaluator, logger, worker=worker, log=log).run()
    if not report:
        return None
    records = TrialStore(run_dir).records()
    if not any(r.get("state") == "COMPLETE" for r in records):
        first = next((r["error"] for r in records if r.get("error")), "none recorded")
        raise StudyFailed(f"all {len(records)} trial(s) failed, so no report was written "
                          f"(records in {run_dir / 'trials.jsonl'}); first error: {first}")
    from analysis import write_report

    summary = write_report(run_dir, metric=cfg.eval.primary_metric, cost_axis=cfg.sweep.cost_axis)
    logger.study(summary)
    log(f"report written to {run_dir / 'report'}")
    return summary


def train_only(overrides: list[str], log=print) -> None:  # noqa: ANN001
    """Train (or find cached) every model the arms need, without sampling."""
    from lightning_modules.continuous.methods import METHODS

    cfg, arms = build_arms(overrides)
    models = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    _load_data(models, arms)
    train_missing(models, planned(models, arms, cfg.sweep.sampler), workers=cfg.train_workers, threads=int(cfg.threads),
                  cache_dir=cfg.cache_dir, log=log)
    for arm in arms:
        for need in METHODS[arm.cfg.method.name].needs:
            models.get(need, arm.cfg)
            log(f"[{arm.name}] {need}: {models.key(need, arm.cfg)}")
