"""The one error type people see: one line naming the key, the value and what is allowed."""


class ConfigError(ValueError):
    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


class StudyFailed(RuntimeError):
    """Every trial of a study failed: there is nothing to report (the records say why)."""


def did_you_mean(word: object, candidates: object) -> str:
    """' (did you mean X?)' for the closest candidate to a misspelt name, else ''."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
