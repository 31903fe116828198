"""The error types people see (defined in lightning_modules.core.errors, shared by both packages)."""

from lightning_modules.core.errors import ConfigError, StudyFailed, did_you_mean

__all__ = ["ConfigError", "StudyFailed", "did_you_mean"]


class StorageLost(Exception):
    """The study's storage stopped answering (after retries): the worker stops, finished trials kept."""
