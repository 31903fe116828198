"""The local results store: RUN_DIR/trials.jsonl, append-only, one JSON object per finished trial.

It is the source of truth: a sweep that is re-run reads it to skip finished work, and a
record is written in one append (then fsync) so a kill never leaves half a trial behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class TrialStore:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "trials.jsonl"

    def records(self) -> list[dict]:
        """All complete lines; a torn last line (killed mid-write) is ignored."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def check_compatible(self) -> None:
        """Refuse to resume into a run folder whose records an older wsbench wrote (no track or
        role): analysis could not read the mix."""
        old = [r for r in self.records() if "track" not in r or "role" not in r]
        if old:
            from sweeps.errors import ConfigError

            raise ConfigError("sweep.run_dir", str(self.run_dir), f"a new run folder: {self.path} holds {len(old)} "
                              "record(s) of an older wsbench (no 'track'/'role'); set sweep.run_dir or sweep.study")

    def find(self, arm: str, config_hash: str) -> dict | None:
        for rec in self.records():
            if rec.get("arm") == arm and rec.get("config_hash") == config_hash:
                return rec
        return None

    def append(self, record: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, sort_keys=False, allow_nan=False, default=_plain) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain(obj: object) -> object:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
