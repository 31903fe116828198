"""Entry points behind the CLI: run a study (all arms) and write its report."""

from __future__ import annotations

import warnings

from omegaconf import OmegaConf

from lightning_modules.core.registry import METHODS
from sweeps.arms import build_arms, run_dir_of
from sweeps.cache import ArtifactCache
from sweeps.confirm import confirm_sequential
from sweeps.diagnostics import write_diagnostics
from sweeps.errors import ConfigError, StudyFailed
from sweeps.identity import check_records_match
from sweeps.models import ModelStore, track_of
from sweeps.prefetch import planned, train_missing
from sweeps.results import TrialStore
from sweeps.runner import SweepRunner
from sweeps.storage import make_storage, masked, secretless
from sweeps.trial import Evaluator
from sweeps.versions import conditions
from sweeps.wandb_log import make_logger


def _load_data(models: ModelStore, arms: list, log=print) -> None:  # noqa: ANN001
    """Load every arm's data before any compute: missing files, too few documents or windows
    are a one-line error."""
    from lightning_modules.data import MissingDataError

    for arm in arms:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                dm = models.data(arm.cfg)
            for warning in {str(w.message) for w in caught}:  # e.g. splits that do not apply: one line each
                log(f"warning: {warning}")
        except MissingDataError as err:
            raise ConfigError("data.root", arm.cfg.data.root, str(err).split(": ", 1)[-1]) from None
        except (ValueError, KeyError) as err:  # too few documents, a missing hub column...
            raise ConfigError("data", arm.cfg.data.name, str(err)) from None
        track_of(arm.cfg).check_data(dm, arm.cfg)


def _prepare(overrides: list[str], log=print):  # noqa: ANN001, ANN202
    cfg, arms = build_arms(overrides)
    models = ModelStore(ArtifactCache(cfg.cache_dir), log=log)
    _load_data(models, arms, log)
    return cfg, arms, models


def _train(cfg, arms, models, log=print) -> list[tuple[str, object]]:  # noqa: ANN001
    jobs = planned(models, arms)
    train_missing(models, jobs, workers=cfg.train_workers, threads=int(cfg.threads), cache_dir=cfg.cache_dir, log=log)
    return jobs


def copy_curves(models: ModelStore, jobs: list, arms: list, run_dir) -> int:  # noqa: ANN001
    """The training curve of every model the study uses, from the cache into run_dir/curves/
    (<key>.csv, and index.json: key -> role and the arms that use it). Closed-form fits
    (GMM, PPCA, n-gram) have none. Returns how many were copied."""
    import json

    folder = run_dir / "curves"
    index = {}
    for name, cfg in jobs:
        key = models.key(name, cfg)
        text = models.curve_text(key)
        if text is None:
            continue
        folder.mkdir(exist_ok=True)
        (folder / f"{key}.csv").write_text(text)
        users = [a.name for a in arms if name in (*METHODS.get(a.cfg.method.name).needs, *track_of(a.cfg).evaluators)
                 and models.key(name, a.cfg) == key]
        index[key] = {"role": name, "arms": users}
    if index:
        (folder / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    return len(index)


def keep_config(run_dir, cfg, overrides: list[str]) -> None:  # noqa: ANN001
    """config.yaml keeps every composed config the folder was run with: one YAML document
    per distinct config, each headed by when and with which overrides it was first run
    (a config run before is not written again)."""
    import datetime as dt

    path = run_dir / "config.yaml"
    text = OmegaConf.to_yaml(secretless(cfg))
    old = path.read_text() if path.exists() else ""
    if old and any(doc.split("\n", 1)[-1] == text for doc in old.split("\n---\n")):
        return
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    shown = " ".join(o.partition("=")[0] + "=" + masked(o.partition("=")[2]) if "://" in o else o for o in overrides).replace("\n", " ") or "(no overrides)"
    doc = f"# {when}: {shown}\n{text}"
    path.write_text(f"{old}\n---\n{doc}" if old else doc)


def run_study(overrides: list[str], *, worker: bool = False, report: bool = True, log=print) -> dict | None:  # noqa: ANN001
    """Validate everything, then run every arm; returns the report summary (None for workers)."""
    cfg, arms, models = _prepare(overrides, log)
    run_dir = run_dir_of(cfg)
    logger = make_logger(cfg, run_dir, log, models)  # a bad WANDB_MODE stops here, before anything is written
    s = cfg.sweep  # the storage opens before compute: a bad URL or server stops here
    storage = make_storage(s.storage, run_dir, heartbeat_s=int(s.heartbeat_s), grace_s=int(s.grace_s),
                           max_retry=int(s.max_retry), lock_grace_s=int(s.lock_grace_s), log=log)
    store = TrialStore(run_dir)
    store.check_compatible()
    if not worker:  # workers of one study may run on other hosts: their identity keeps them apart
        store.check_conditions(conditions(cfg))
    check_records_match(run_dir, store.records(), arms)  # before any training: never mix settings
    run_dir.mkdir(parents=True, exist_ok=True)
    keep_config(run_dir, cfg, overrides)
    log(f"study '{cfg.sweep.study}': {len(arms)} arm(s), track {cfg.track}, sampler {'/'.join(dict.fromkeys(a.sampler for a in arms))}, "
        f"metric {cfg.eval.primary_metric}, run folder {run_dir}")
    copy_curves(models, _train(cfg, arms, models, log), arms, run_dir)
    write_diagnostics(models, arms, run_dir, log)
    track_of(arms[0].cfg).check_evaluator([a.cfg for a in arms], models)  # before any trial
    evaluator = Evaluator(models)
    first = arms[0].cfg
    track_of(first).save_reference(run_dir, first, models, evaluator.reference(first), int(cfg.eval.save_samples))
    runner = SweepRunner(cfg, arms, run_dir, storage, evaluator, logger, worker=worker, log=log)
    try:
        runner.run()
        if cfg.sweep.confirm and not worker:  # workers share the search; the owner confirms once
            confirm_sequential(runner, log)
    finally:
        logger.close()  # a trial interrupted mid-way: its W&B run ends as failed, not left open
    if not report:
        return None
    records = TrialStore(run_dir).records()
    if not any(r.get("state") == "COMPLETE" for r in records):
        first_error = next((r["error"] for r in records if r.get("error")), "none recorded")
        raise StudyFailed(f"all {len(records)} trial(s) failed, so no report was written "
                          f"(records in {run_dir / 'trials.jsonl'}); first error: {first_error}")
    from analysis import write_report

    summary = write_report(run_dir, metric=cfg.eval.primary_metric, cost_axis=cfg.sweep.cost_axis)
    logger.study(summary)
    log(f"report written to {run_dir / 'report'}")
    return summary


def train_only(overrides: list[str], log=print) -> None:  # noqa: ANN001
    """Train (or find cached) every model the arms need, without sampling."""
    cfg, arms, models = _prepare(overrides, log)
    _train(cfg, arms, models, log)
    for arm in arms:
        for need in METHODS.get(arm.cfg.method.name).needs:
            models.get(need, arm.cfg)
            log(f"[{arm.name}] {need}: {models.key(need, arm.cfg)}")
