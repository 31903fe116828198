"""Trials per hour with 2 workers against 1 on one study, for the journal file and PostgreSQL.

    python benchmarks/workers.py [--trials 40] [--n-samples N] [--steps S]

Sampling-only trials (the models are trained first, outside the clock), one torch thread per
worker, timing-alone off, so two workers on two cores should approach 2x. Each configuration
runs a fresh study; the clock runs from the workers' start to the last one's exit (start-up
included), and "trials/h" counts the study's records. Prints one row per configuration and
the 2-vs-1 ratios measured in this run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import pg_server  # noqa: E402

from analysis.load import read_records  # noqa: E402


def overrides(args: argparse.Namespace, study: str) -> list[str]:
    seeds = ", ".join(str(s) for s in range(args.trials))
    return ["experiment=smoke", "threads=1", "sweep.confirm=false", f"sweep.study={study}",
            f"eval.n_samples={args.n_samples}", "eval.timing_repeats=3", f"method.steps={args.steps}",
            f"sweep.arms={{b: {{set: [method=noise_start, refiner.pairing=independent], space: {{seed: [{seeds}]}}}}}}"]


def run(workers: int, storage: str | None, args: argparse.Namespace, workdir: Path, study: str) -> dict:
    cmd = [sys.executable, "-m", "sweeps.cli", "worker", "-q", *overrides(args, study),
           *(["--storage", storage] if storage else [])]
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(workers)]
    outs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed:\n{''.join(outs)[-3000:]}")
    recs = [r for r in read_records(workdir / "runs" / study) if r.get("state") == "COMPLETE"]
    per_trial = sorted(r["seconds"] for r in recs)
    return {"workers": workers, "trials": len(recs), "seconds": seconds, "per_hour": 3600 * len(recs) / seconds,
            "median_trial_s": per_trial[len(per_trial) // 2],
            "concurrent": sorted({r["cost"]["load"]["concurrent"] for r in recs})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wsbench-bench-workers-"))
    os.environ["WSBENCH_CACHE"] = str(workdir / "cache")
    os.environ["WSBENCH_HOST_DIR"] = str(workdir / "host")
    subprocess.run([sys.executable, "-m", "sweeps.cli", "train", "-q", *overrides(args, "train")], cwd=workdir,
                   check=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="wsbench-pg-bench-", dir="/tmp"))
    url = pg_server.start(pg_dir) if pg_server.available() else None
    rows = []
    try:
        for name, storage in (("journal", None), ("postgresql", url)):
            if name == "postgresql" and not url:
                print("postgresql: no server binaries, skipped")
                continue
            for workers in (1, 2):
                row = {"storage": name, **run(workers, storage, args, workdir, f"{name}-{workers}")}
                rows.append(row)
                print(f"{name:10s} {workers} worker(s): {row['trials']} trials in {row['seconds']:.1f} s = "
                      f"{row['per_hour']:.0f} trials/h (median trial {row['median_trial_s']:.2f} s, "
                      f"other trials computing while timed: {row['concurrent']})", flush=True)
    finally:
        if url:
            pg_server.stop(pg_dir)
    for name in ("journal", "postgresql"):
        one, two = (next((r for r in rows if r["storage"] == name and r["workers"] == w), None) for w in (1, 2))
        if one and two:
            print(f"{name}: 2 workers / 1 worker = {two['per_hour'] / one['per_hour']:.2f}x trials per hour")


if __name__ == "__main__":
    main()
