"""The error types people see (defined in lightning_modules.core.errors, shared by both packages)."""

from lightning_modules.core.errors import ConfigError, StudyFailed

__all__ = ["ConfigError", "StudyFailed"]
