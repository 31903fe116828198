"""`make gpu-check`: the CUDA path on a machine that has one.

    python benchmarks/gpu_check.py [--out DIR] [--n 2000]

1. runs the CUDA tests (tests/test_device.py; they are skipped on machines without CUDA);
2. runs the smoke study with device=cuda and with device=cpu on the same models (one cache);
3. checks every CUDA record (COMPLETE, cost.device == cuda, a per-trial peak, a ledger with
   FLOPs equal to the CPU run's, timing repeats >= 3) and prints both runs' costs side by side.
Exits 1 on a failed check, 2 where CUDA is not available.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "trials.jsonl").read_text().splitlines() if x.strip()]


def _key(r: dict) -> tuple:
    return r["arm"], json.dumps(r["params"], sort_keys=True)


def check(cuda: list[dict], cpu: list[dict]) -> list[str]:
    """What is wrong with the CUDA run (an empty list when nothing is)."""
    problems, by_key = [], {_key(r): r for r in cpu}
    for r in cuda:
        c, where = r.get("cost", {}), f"{r['arm']} {r['params']}"
        if r["state"] != "COMPLETE":
            problems.append(f"{where}: {r['state']} {r.get('error')}")
            continue
        if c.get("device") != "cuda" or c.get("peak_mem_scope") != "trial" or not c.get("peak_mem_bytes"):
            problems.append(f"{where}: device {c.get('device')}, peak {c.get('peak_mem_bytes')} ({c.get('peak_mem_scope')})")
        if c.get("timing_repeats", 0) < 3 or not c.get("wallclock_s", 0) > 0:
            problems.append(f"{where}: {c.get('timing_repeats')} timed runs, {c.get('wallclock_s')} s")
        twin = by_key.get(_key(r))
        if twin and abs(twin["cost"]["flops"] - c["flops"]) > 1e-6 * max(1.0, c["flops"]):
            problems.append(f"{where}: {c['flops']:.4g} FLOPs on CUDA against {twin['cost']['flops']:.4g} on the CPU")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the two runs (default: a temporary one)")
    ap.add_argument("--n", type=int, default=2000, help="eval.n_samples")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu-check: CUDA is not available on this machine; nothing to check", file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="wsbench-gpu-check-"))
    os.environ.setdefault("WSBENCH_CACHE", str(out / "cache"))
    os.environ.setdefault("WANDB_MODE", "offline")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_device.py"], check=False)
    from sweeps.study import run_study

    runs = {}
    for device in ("cuda", "cpu"):
        runs[device] = out / f"smoke_{device}"
        run_study(["experiment=smoke", f"device={device}", f"eval.n_samples={args.n}",
                   f"sweep.run_dir={runs[device]}"], report=False)
    cuda, cpu = _records(runs["cuda"]), _records(runs["cpu"])
    print(f"\n{torch.cuda.get_device_name()}  n={args.n}")
    print(f"{'arm':24s} {'params':34s} {'FLOPs':>10s} {'cuda s':>9s} {'cpu s':>9s} {'cuda MiB':>9s}")
    by_key = {_key(r): r for r in cpu}
    for r in cuda:
        twin = by_key.get(_key(r), {"cost": {}})
        c = r.get("cost", {})
        print(f"{r['arm']:24s} {json.dumps(r['params']):34s} {c.get('flops', float('nan')):10.4g} "
              f"{c.get('wallclock_s', float('nan')):9.4f} {twin['cost'].get('wallclock_s', float('nan')):9.4f} "
              f"{c.get('peak_mem_bytes', 0) / 2**20:9.1f}")
    problems = check(cuda, cpu)
    for p in problems:
        print("FAIL", p)
    print(f"records in {out}; CUDA tests {'passed' if tests.returncode == 0 else 'FAILED'}")
    return 1 if problems or tests.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
