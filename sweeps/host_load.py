"""What else runs on this host while a trial is timed.

Every wsbench process that computes (a trial, a training) registers a file in a per-user
folder for as long as it does; a trial counts the live ones around its timed runs and records
the most it saw (`cost.load.concurrent`: other computing processes, 0 = timed alone). A process paused with
SIGSTOP is not counted.

With `sweep.time_alone=true` a trial also takes a host-wide lock for its timed runs: every
computing process holds the lock shared, and the timing trial takes it exclusively, so its
timed runs wait until no other registered process computes and nothing starts meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import uuid
from pathlib import Path

from sweeps.claims import alive


def folder() -> Path:
    path = Path(os.environ.get("WSBENCH_HOST_DIR") or Path(tempfile.gettempdir()) / f"wsbench-{os.getuid()}")
    (path / "busy").mkdir(parents=True, exist_ok=True)
    return path


_HELD: list = []  # (lock fd, mark file) of this process while it computes


@contextlib.contextmanager
def busy(kind: str):
    """Register this process as computing (`kind`: trial | training) and hold the lock shared."""
    if _HELD:  # nested (a training inside a trial): already registered
        yield
        return
    base = folder()
    fd = os.open(base / "timing.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)  # first the lock, then the mark: a waiting process is not counted
    mark = base / "busy" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}-{kind}"
    mark.write_text(str(os.getpid()))
    _HELD.append((fd, mark))
    try:
        yield
    finally:
        _HELD.pop()
        mark.unlink(missing_ok=True)
        os.close(fd)


def others() -> int:
    """Live computing processes on this host other than this one (stale marks are removed;
    a process waiting to time alone is not computing)."""
    count = 0
    for mark in (folder() / "busy").iterdir():
        try:
            pid = int(mark.name.split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid() or mark.name.endswith(WAITING):
            continue
        if not alive(pid):
            mark.unlink(missing_ok=True)
        elif not _stopped(pid):
            count += 1
    return count


def _stopped(pid: int) -> bool:
    """A process paused by SIGSTOP (state T) holds its mark but takes no CPU time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except OSError:
        return False


WAITING = ".waiting"


@contextlib.contextmanager
def timing(alone: bool):
    """Around a trial's timed runs; yields a dict filled on exit: {concurrent, timed_alone}."""
    load = {}
    held = _HELD[-1] if _HELD else None
    alone = bool(alone and held is not None)
    if alone:
        fd, mark = held
        waiting = mark.with_name(mark.name + WAITING)
        mark.rename(waiting)
        fcntl.flock(fd, fcntl.LOCK_UN)  # never wait for the exclusive lock while holding it shared
        fcntl.flock(fd, fcntl.LOCK_EX)
        waiting.rename(mark)
    seen = others()
    try:
        yield load
    finally:
        seen = max(seen, others())
        if alone:
            fcntl.flock(held[0], fcntl.LOCK_SH)  # flock converts in place: back to shared
        load.update(concurrent=seen, timed_alone=alone)
