"""Run folders for the analysis tests, made from records the code really writes.

``smoke_runs`` (a session fixture in conftest.py) runs the three smoke sweeps once; tests
copy a run folder before changing it (``copy_run``), and edge cases a smoke run cannot
produce are made by copying a real record and changing it (``clone``), never typed from
scratch, so the fixtures cannot drift from what ``wsbench sweep`` writes.
"""

from __future__ import annotations

import copy
import json
import shutil
import struct
from pathlib import Path
from typing import Any

# track -> the experiment whose smoke sweep produces a run of that track
SMOKE_EXPERIMENTS = {"points": "smoke", "images": "smoke_digits", "text": "smoke_text"}
# The text run also samples the substrate baselines, for the substrate table, and the
# scheduling family's method (kept out of smoke_text itself, which many tests run).
SMOKE_EXTRA = {"text": ["+sweep.arms.mdlm={set: [method=mdlm], space: {method.steps: [4]}}",
                        "+sweep.arms.ar={set: [method=autoregressive], space: {method.temperature: [0.9, 1.0]}}",
                        # the scheduling family: the tiny MDLM and a tinier light one share 4 steps
                        "+sweep.arms.sched={set: [method=scheduled, method.steps=4], "
                        "space: {method.schedule: [HL, LH]}}"]}
REQUIRED = ("track", "role", "knobs", "metric_info")


def run_smoke_sweeps(root: Path, tracks: list[str] | None = None) -> dict[str, Path]:
    """Run the smoke experiments (of `tracks`, default all) into ``root/<experiment>``;
    ``{track: run folder}``."""
    from sweeps.study import run_study

    runs = {}
    for track in tracks or SMOKE_EXPERIMENTS:
        run_dir = root / SMOKE_EXPERIMENTS[track]
        run_study(
            [f"experiment={SMOKE_EXPERIMENTS[track]}", f"sweep.run_dir={run_dir}", *SMOKE_EXTRA.get(track, [])],
            report=False,
            log=lambda *args, **kwargs: None,
        )
        runs[track] = run_dir
    return runs


def missing_fields(run_dir: Path) -> list[str]:
    """The new record fields the run's first record lacks (an older sweep runner)."""
    first = json.loads((run_dir / "trials.jsonl").read_text().splitlines()[0])
    return [key for key in REQUIRED if key not in first]


def copy_run(run_dir: Path, dest: Path) -> Path:
    """A private copy of a run folder (trials, samples, reference), without any report."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("report", "optuna.journal"))
    return dest


def all_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of trials.jsonl: the search trials and the confirmations (``confirm``)."""
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def records(run_dir: Path) -> list[dict[str, Any]]:
    """The search trials (what fronts and speed-ups read), without the confirmation records
    of the picked settings (``confirmations`` gives those)."""
    return [r for r in all_records(run_dir) if not r.get("confirm")]


def confirmations(run_dir: Path) -> list[dict[str, Any]]:
    """The confirmation records: picked settings re-evaluated on fresh seeds after the search."""
    return [r for r in all_records(run_dir) if r.get("confirm")]


def write_records(run_dir: Path, recs: list[dict[str, Any]]) -> Path:
    (run_dir / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return run_dir


def of_arm(recs: list[dict[str, Any]], arm: str) -> list[dict[str, Any]]:
    return [r for r in recs if r["arm"] == arm]


def arms_by_role(recs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{role: [arm, ...]}`` in file order."""
    out: dict[str, list[str]] = {}
    for r in recs:
        if r["arm"] not in out.setdefault(r["role"], []):
            out[r["role"]].append(r["arm"])
    return out


def clone(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a real record with top-level fields replaced; ``params`` entries given
    as ``params={...}`` are merged into the copy's params rather than replacing them."""
    out = copy.deepcopy(record)
    params = changes.pop("params", None)
    out.update(copy.deepcopy(changes))
    if params:
        out["params"] = {**out["params"], **params}
    return out


def with_values(
    record: dict[str, Any],
    *,
    arm: str,
    trial: int,
    metric: str,
    value: float,
    ci: tuple[float, float],
    nfe: float,
    wallclock_s: float | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of a real record moved to (``arm``, ``trial``) with one metric's value and CI
    and the cost set (other metrics and cost fields as recorded), for hand-computed cases.
    The metric's recorded replicates are shifted with its value (their spread and pairing
    kept), so intervals stay centred on the new value."""
    out = clone(record, arm=arm, trial=trial, params=params or {})
    shift = value - out["quality"][metric]
    boot = out.get("quality_boot") or {}
    if metric in boot:
        boot[metric] = [v + shift for v in boot[metric]]
    out["quality"][metric], out["quality"][f"{metric}_ci"] = value, list(ci)
    out["cost"]["nfe"] = nfe
    if wallclock_s is not None:  # its timed runs too: a set cost has no timing noise
        out["cost"]["wallclock_s"] = wallclock_s
        out["cost"]["wallclock_runs_s"] = [wallclock_s] * int(out["cost"].get("timing_repeats", 3))
    return out


def failed(record: dict[str, Any], *, trial: int, error: str) -> dict[str, Any]:
    """A FAIL record as the runner writes one: the trial's identity, no evaluation fields
    (quality, cost, floor, samples, and the track's extras: metric_info, evaluator)."""
    out = clone(record, trial=trial, state="FAIL", error=error)
    extras = ("evaluator", "metric_info", "train")
    for key in ("quality", "cost", "reference_floor", "samples_path", "drafts_path", *extras):
        out.pop(key, None)
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:4] == b"\x89PNG"
    return struct.unpack(">II", data[16:24])


def md_cells(md: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first``."""
    line = next(x for x in md.splitlines() if x.startswith(f"| {first} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def md_rows(md: str) -> list[list[str]]:
    """Every row of the first Markdown table in ``md`` (header and separator included)."""
    return [
        [c.strip() for c in x.strip("|").split("|")] for x in md.splitlines() if x.startswith("|")
    ]
