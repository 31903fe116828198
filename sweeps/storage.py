"""Optuna storage: a journal file in the run folder by default, or a database URL."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweeps.errors import ConfigError


def make_storage(url: str | None, run_dir: Path, *, owner: bool = True, log=print) -> optuna.storages.BaseStorage:  # noqa: ANN001
    """Open (creating if needed) the study storage; a broken URL is a ConfigError, before compute.

    `owner`: this process is the only one running the study (not a --worker), so a journal
    lock left by a killed run is stale and is removed instead of waited for.
    """
    if not url:
        from optuna.storages.journal import JournalFileBackend

        run_dir.mkdir(parents=True, exist_ok=True)
        # Absolute path: Optuna's lock is a symlink to the journal, and a relative target
        # dangles, which makes a later run spin forever on a leftover lock.
        journal = (run_dir / "optuna.journal").resolve()
        lock = Path(f"{journal}.lock")
        if owner and lock.is_symlink():
            log(f"removing the journal lock left by an interrupted run: {lock}")
            lock.unlink()
        return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as err:  # noqa: BLE001 - any failure to open is the user's URL
        reason = str(err).splitlines()[0][:160] if str(err) else err.__class__.__name__
        raise ConfigError("sweep.storage", url, f"an SQLAlchemy database URL Optuna can open ({reason})") from None


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    # Grid points are enqueued by the runner in a fixed order (resume-safe), so the study's
    # own sampler never has to pick one.
    return optuna.samplers.RandomSampler(seed=seed)
