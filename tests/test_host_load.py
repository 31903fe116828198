"""What else computes on the host while a trial is timed: counted in every record, and
excluded altogether with sweep.time_alone (a host-wide lock)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sweeps import host_load

HOLD = """
import sys, time
from sweeps import host_load
with host_load.busy("trial"):
    print("busy", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _other_process_busy(seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "busy"
    return proc


def test_a_trial_counts_the_other_computing_processes():
    with host_load.busy("trial"), host_load.timing(alone=False) as load:
        pass
    assert load == {"concurrent": 0, "timed_alone": False}
    other = _other_process_busy(1.0)
    with host_load.busy("trial"), host_load.timing(alone=False) as load:
        pass
    other.wait()
    assert load == {"concurrent": 1, "timed_alone": False}


def test_timing_alone_waits_until_no_other_process_computes():
    other = _other_process_busy(1.5)
    start = time.monotonic()
    with host_load.busy("trial"), host_load.timing(alone=True) as load:
        waited = time.monotonic() - start
    other.wait()
    assert waited >= 1.0 and load == {"concurrent": 0, "timed_alone": True}


def test_a_dead_processs_mark_is_not_counted():
    mark = host_load.folder() / "busy" / "999999-deadbeef-trial"  # no such pid
    mark.write_text("999999")
    with host_load.busy("trial"), host_load.timing(alone=False) as load:
        pass
    assert load["concurrent"] == 0 and not mark.exists()


def test_a_paused_process_is_not_counted_until_it_resumes():
    other = _other_process_busy(3.0)
    other.send_signal(signal.SIGSTOP)
    time.sleep(0.1)  # the state change is asynchronous
    with host_load.busy("trial"), host_load.timing(alone=False) as paused:
        pass
    other.send_signal(signal.SIGCONT)
    time.sleep(0.1)
    with host_load.busy("trial"), host_load.timing(alone=False) as resumed:
        pass
    other.kill()
    other.wait()
    assert paused["concurrent"] == 0 and resumed["concurrent"] == 1
