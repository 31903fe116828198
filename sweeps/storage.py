"""Optuna storage: a journal file in the run folder by default, or a database URL.

Both carry a heartbeat, so a trial whose worker died (SIGKILL, a lost machine) is failed once
its heartbeat is older than the grace period and retried, up to `max_retry` times, by Optuna's
`RetryHeartbeatStaleTrialCallback` (the retry's `retry_history` names the trials it replaces).
The database uses Optuna's own heartbeat table (server time); the journal file, which has
none in Optuna, gets one here: the time of the last beat as a trial system attribute.
"""

from __future__ import annotations

import random
import sys
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from sweeps.errors import ConfigError

BEAT = "wsbench:heartbeat"  # journal trials: time.time() of the last beat


class HeartbeatJournalStorage(optuna.storages.JournalStorage, BaseHeartbeat):
    """A journal storage with a heartbeat: each beat appends one small record to the journal."""

    def __init__(self, backend, *, heartbeat_interval: int, grace_period: int,  # noqa: ANN001
                 stale_callback=None) -> None:  # noqa: ANN001
        super().__init__(backend)
        self.heartbeat_interval, self.grace_period, self.stale_callback = heartbeat_interval, grace_period, stale_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, BEAT, time.time())
        except Exception as err:  # noqa: BLE001 - e.g. its lock broken after a long stall: beat again later
            print(f"wsbench: heartbeat of trial {trial_id} not written ({err.__class__.__name__}); trying again",
                  file=sys.stderr, flush=True)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                if BEAT in t.system_attrs and now - float(t.system_attrs[BEAT]) > self.grace_period]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self):  # noqa: ANN201
        return self.stale_callback


def masked(url: str) -> str:
    """The URL with its password replaced by ***: what logs, errors and records may show."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: show no part after a '@'
        return url.split("@")[-1] if "@" in url else url


def secretless(cfg):  # noqa: ANN001, ANN201
    """A copy of the config whose sweep.storage URL has its password masked (for config.yaml, W&B)."""
    from omegaconf import OmegaConf

    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if out.get("sweep") is not None and out.sweep.get("storage"):
        out.sweep.storage = masked(str(out.sweep.storage))
    return out


def make_storage(url: str | None, run_dir: Path, *, heartbeat_s: int = 10, grace_s: int = 60,
                 max_retry: int = 2, lock_grace_s: int = 30, log=print) -> optuna.storages.BaseStorage:  # noqa: ANN001
    """Open (creating if needed) the study storage. A URL that does not open (no driver, wrong
    credentials, no server) is a one-line ConfigError before any compute, password masked."""
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8; the mechanism the issue asks for
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    if not url:
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

        run_dir.mkdir(parents=True, exist_ok=True)
        # Absolute path: Optuna's lock is a symlink to the journal, and a relative target
        # dangles. A lock left by a killed writer is broken by Optuna after its grace period,
        # never at start-up (a live worker may hold it).
        journal = str((run_dir / "optuna.journal").resolve())
        backend = JournalFileBackend(journal, lock_obj=JournalFileSymlinkLock(journal, grace_period=lock_grace_s))
        return HeartbeatJournalStorage(backend, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                       stale_callback=retry)
    for attempt in range(5):
        try:
            # pool_pre_ping: a connection the server dropped is replaced instead of failing a call.
            with warnings.catch_warnings():  # heartbeat arguments are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=heartbeat_s,
                    grace_period=grace_s, heartbeat_stale_trial_callback=retry)
        except Exception as err:  # noqa: BLE001 - any failure to open is the user's URL or server
            text = str(err)
            # Workers started together race to create the schema; the loser finds it made.
            if attempt < 4 and ("already exists" in text or "duplicate key" in text or "UniqueViolation" in text):
                time.sleep(0.2 + random.random())
                continue
            raise ConfigError("sweep.storage", masked(url), _reason(err, url)) from None
    raise AssertionError("unreachable")


def _reason(err: Exception, url: str) -> str:
    text = str(err).replace(url, masked(url))
    if isinstance(err, ModuleNotFoundError) or "No module named" in text:
        return f"a database URL whose driver is installed ({text.splitlines()[0]}; for postgresql:// run " \
               "pip install -e '.[postgres]')"
    for line in text.splitlines():
        if "password authentication failed" in line or "Connection refused" in line or "could not" in line:
            return f"a reachable database with valid credentials ({_secretless(line.strip(), url)[:200]})"
    first = text.splitlines()[0][:200] if text else err.__class__.__name__
    return f"an SQLAlchemy database URL Optuna can open ({_secretless(first, url)})"


def _secretless(text: str, url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    return text.replace(password, "***") if password else text


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    # Grid points are enqueued once by the study's creator and claimed by workers, so the
    # study's own sampler never has to pick one.
    return optuna.samplers.RandomSampler(seed=seed)
