"""The local results store: RUN_DIR/trials.jsonl, append-only, one JSON object per finished trial.

It is the source of truth: a sweep that is re-run reads it to skip finished work, and a
record is written in one append (then fsync) so a kill never leaves half a trial behind.
A worker (`wsbench worker`) writes its own file, RUN_DIR/trials.<host>-<pid>.jsonl (on a
shared folder or on its own machine); reading merges every results file of the folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

# Records since trial identity (config_key, swept): an older folder's records cannot be matched
# to a config, so it is never extended.
RECORD_FORMAT = 2


class TrialStore:
    def __init__(self, run_dir: str | Path, *, worker: bool = False) -> None:
        self.run_dir = Path(run_dir)
        name = f"trials.{socket.gethostname()}-{os.getpid()}.jsonl" if worker else "trials.jsonl"
        self.path = self.run_dir / name

    def records(self) -> list[dict]:
        """All records, read like analysis reads them (`analysis.load.read_records`): a torn
        last line (a kill mid-write) is ignored with a warning, any other bad line is a
        one-line ConfigError naming the file and line."""
        from analysis.load import read_records

        try:
            return read_records(self.run_dir, missing_ok=True)
        except ValueError as err:
            from sweeps.errors import ConfigError

            raise ConfigError("sweep.run_dir", str(self.run_dir), f"a run folder whose trials.jsonl reads ({err}); "
                              "move the bad line out or use a new run folder") from None

    def check_compatible(self) -> None:
        """Refuse to resume into a run folder whose records an older wsbench wrote (before
        trial identity, `format` 2): nothing tells which config made them, so new records
        would be mixed with them unseen. `wsbench analyze` still reads such a folder."""
        old = [r for r in self.records() if r.get("format", 1) < RECORD_FORMAT]
        if old:
            from sweeps.errors import ConfigError

            raise ConfigError("sweep.run_dir", str(self.run_dir), f"a run folder of this wsbench: it holds {len(old)} "
                              "record(s) written before records carried their settings (config_key), which cannot "
                              "be matched to today's config; set sweep.study=NAME or sweep.run_dir=DIR for a new "
                              "study (`wsbench analyze` still reads the old one)")

    def check_conditions(self, now: dict) -> None:
        """Refuse to add to a run folder whose finished trials were timed under other
        conditions (host, device, threads) or by other code: their timings would be mixed
        with new ones silently."""
        from sweeps.errors import ConfigError

        for rec in self.records():
            cost, code = rec.get("cost") or {}, (rec.get("versions") or {}).get("code")
            then = {"host": cost.get("host"), "device": cost.get("device"), "threads": cost.get("threads"),
                    "code": code}
            if rec.get("state") != "COMPLETE":
                then = {"code": code}
            differ = {k: (v, now[k]) for k, v in then.items() if v != now[k]}
            if differ:
                what = ", ".join(f"{k} {a!r} then, {b!r} now" for k, (a, b) in differ.items())
                raise ConfigError("sweep.run_dir", str(self.run_dir), f"a new run folder: trial {rec.get('trial')} of "
                                  f"{rec.get('arm')} was measured under other conditions ({what}); resuming would "
                                  "mix their timings with new ones")

    def find(self, arm: str, config_hash: str) -> dict | None:
        for rec in self.records():
            if rec.get("arm") == arm and rec.get("config_hash") == config_hash:
                return rec
        return None

    def append(self, record: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, sort_keys=False, allow_nan=False, default=_plain) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            # Workers of one study append to the same file: under the lock, a last line without
            # its newline is half a record of a killed writer (its trial will be re-run), cut so
            # it never becomes a bad line in the middle of the file.
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.ftruncate(fd, os.pread(fd, size, 0).rfind(b"\n") + 1)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock


def _plain(obj: object) -> object:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
