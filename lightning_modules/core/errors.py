"""The one error type people see: one line naming the key, the value and what is allowed."""


class ConfigError(ValueError):
    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


class StudyFailed(RuntimeError):
    """Every trial of a study failed: there is nothing to report (the records say why)."""
