"""Read a run folder's ``trials.jsonl`` into one flat table (one row per trial)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

TRIALS_FILE = "trials.jsonl"


def _per_sample_wallclock(record: dict[str, Any]) -> float | None:
    cost = record.get("cost") or {}
    seconds, n = cost.get("wallclock_s"), record.get("n_samples")
    if seconds is None or not n:
        return None
    return float(seconds) / float(n)


# Cost axes: name -> cost per sample read from one trial record. Adding an axis is one line;
# each axis becomes a column of the same name in ``load_trials``' table.
COST_AXES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "nfe": lambda r: (r.get("cost") or {}).get("nfe"),
    "wallclock": _per_sample_wallclock,
    "flops": lambda r: (r.get("cost") or {}).get("flops"),
}

COST_AXIS_LABELS: dict[str, str] = {
    "nfe": "refiner NFE per sample",
    "wallclock": "wall-clock seconds per sample",
    "flops": "FLOPs per sample",
}


def _number(value: Any) -> float:
    """A float, NaN for missing or non-numeric values (JSON null, strings)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    params = record.get("params") or {}
    row: dict[str, Any] = {
        "study": record.get("study"),
        "arm": record.get("arm") or record.get("method"),
        "method": record.get("method") or params.get("method.name"),
        "trial": record.get("trial"),
        "state": record.get("state"),
        "error": record.get("error"),
        "t0": _number(params.get("method.t0")),
        "steps": _number(params.get("method.steps")),
        "pairing": params.get("refiner.pairing"),
        "n_samples": record.get("n_samples"),
        "seed": record.get("seed"),
        "config_hash": record.get("config_hash"),
        "samples_path": record.get("samples_path"),
        "drafts_path": record.get("drafts_path"),
        "primary_metric": record.get("primary_metric"),
        "features": record.get("features") if isinstance(record.get("features"), dict) else None,
        "text_eval": record.get("text_eval") if isinstance(record.get("text_eval"), dict) else None,
    }
    for axis, read in COST_AXES.items():
        row[axis] = _number(read(record))
    for key, value in (record.get("cost") or {}).items():
        row[f"cost.{key}"] = _number(value)
    for key, value in (record.get("quality") or {}).items():
        if key.endswith("_ci"):
            lo, hi = value if isinstance(value, list | tuple) and len(value) == 2 else (None, None)
            row[f"q.{key[:-3]}_lo"], row[f"q.{key[:-3]}_hi"] = _number(lo), _number(hi)
        else:
            row[f"q.{key}"] = _number(value)
    for key, value in (record.get("reference_floor") or {}).items():
        row[f"floor.{key}"] = _number(value)
    for key, value in params.items():
        row[f"param.{key}"] = value
    return row


def read_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """Parse ``RUN_DIR/trials.jsonl``; blank lines are skipped, a bad line is an error."""
    path = Path(run_dir) / TRIALS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {TRIALS_FILE} in run folder {Path(run_dir)} (expected {path})")
    records = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: malformed JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(
                    f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}"
                )
            if not (record.get("arm") or record.get("method")):
                raise ValueError(f"{path}:{lineno}: record has neither 'arm' nor 'method'")
            records.append(record)
    if not records:
        raise ValueError(f"{path}: no trials recorded")
    return records


def load_trials(run_dir: str | Path) -> pd.DataFrame:
    """One row per (arm, trial), in file order.

    Columns: ``arm, method, trial, state, t0, steps, pairing`` and one column per cost axis
    (``nfe``, ``wallclock`` in seconds per sample, ``flops`` per sample), then ``q.<metric>``,
    ``q.<metric>_lo``, ``q.<metric>_hi``, ``floor.<metric>``, ``cost.<key>``, ``param.<key>``.
    ``features`` holds the record's feature-net dict (image trials: the classifier whose
    features FID/KID are computed on), None where the record has none (toy trials);
    ``text_eval`` likewise the evaluator LM behind gen PPL (text trials).
    Missing numbers are NaN. A repeated (arm, trial) keeps the last record, with a warning.
    ``df.attrs["metrics"]`` lists the quality metrics in the first COMPLETE record's order.
    """
    records = read_records(run_dir)
    rows = [_flatten(r) for r in records]
    frame = pd.DataFrame(rows)
    key = ["arm", "trial"]
    duplicated = frame.duplicated(subset=key, keep="last")
    if duplicated.any():
        pairs = sorted(
            {(a, t) for a, t in frame.loc[duplicated, key].itertuples(index=False)}, key=str
        )
        warnings.warn(
            f"{len(pairs)} (arm, trial) pair(s) recorded more than once, keeping the last: {pairs[:5]}",
            stacklevel=2,
        )
        frame = frame.loc[~duplicated].reset_index(drop=True)
    # Every metric gets its CI and floor columns, NaN where a record lacks them, so callers
    # can index them without checking.
    for metric in [
        c[2:] for c in frame.columns if c.startswith("q.") and not c.endswith(("_lo", "_hi"))
    ]:
        for column in (f"q.{metric}_lo", f"q.{metric}_hi", f"floor.{metric}"):
            if column not in frame:
                frame[column] = float("nan")
    complete = [r for r in records if r.get("state") == "COMPLETE" and r.get("quality")]
    first_quality = complete[0]["quality"] if complete else {}
    frame.attrs["metrics"] = [k for k in first_quality if not k.endswith("_ci")]
    return frame


def metrics_of(frame: pd.DataFrame) -> list[str]:
    """Quality metric names in the table: the first COMPLETE record's order, then any others."""
    found = [c[2:] for c in frame.columns if c.startswith("q.") and not c.endswith(("_lo", "_hi"))]
    ordered = [m for m in frame.attrs.get("metrics", []) if m in found]
    return ordered + [m for m in found if m not in ordered]


def default_metric(frame: pd.DataFrame) -> str:
    """The records' ``primary_metric`` if any, else the first metric of the first COMPLETE trial."""
    named = frame["primary_metric"].dropna() if "primary_metric" in frame else []
    if len(named):
        return str(named.iloc[0])
    metrics = metrics_of(frame)
    if not metrics:
        raise ValueError("no quality metrics in any trial: nothing to analyse")
    return metrics[0]


def complete_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the COMPLETE trials (FAIL and any other state dropped)."""
    return frame.loc[frame["state"] == "COMPLETE"]


def arm_order(frame: pd.DataFrame) -> list[str]:
    """Arms in the order they first appear in trials.jsonl (stable labels and colours)."""
    return list(dict.fromkeys(frame["arm"].tolist()))


# The fields of a record's ``features`` dict that identify the feature net, in display order.
FEATURE_FIELDS = ("name", "key", "weights_hash", "test_accuracy", "feature_dim", "n_reference")
# The same for a text record's ``text_eval`` dict (the evaluator LM behind gen PPL).
TEXT_EVAL_FIELDS = ("name", "key", "weights_hash", "val_ppl", "n_params")


def distinct_dicts(
    frame: pd.DataFrame, column: str, fields: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The distinct dicts in ``frame[column]`` (one per trial or None), in first-seen order.

    Each entry is the record's dict (``fields`` first, then any other keys) plus ``arms``
    (the arms whose trials used it) and ``n_trials``. Empty when no trial carries one.
    """
    if column not in frame:
        return []
    found: dict[str, dict[str, Any]] = {}
    for arm, value in zip(frame["arm"], frame[column], strict=True):
        if not isinstance(value, dict):
            continue
        ident = json.dumps(value, sort_keys=True, default=str)
        if ident not in found:
            ordered = {k: value.get(k) for k in fields}
            ordered.update({k: v for k, v in value.items() if k not in fields})
            found[ident] = {**ordered, "arms": [], "n_trials": 0}
        entry = found[ident]
        entry["n_trials"] += 1
        if arm not in entry["arms"]:
            entry["arms"].append(arm)
    return list(found.values())


def feature_nets(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct feature nets (``features`` dicts) found in the trials, in first-seen order.

    Each entry is the record's dict (``FEATURE_FIELDS`` first, then any other keys) plus
    ``arms`` (the arms whose trials used it) and ``n_trials``. Empty when no trial carries
    ``features`` (toy runs). More than one entry means the trials mix feature nets (e.g. a
    retrained classifier with a different weights hash): their FID/KID are not comparable.
    """
    return distinct_dicts(frame, "features", FEATURE_FIELDS)


def text_evaluators(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct evaluator LMs (``text_eval`` dicts) of text trials, like ``feature_nets``:
    more than one entry means their gen PPL values are not comparable."""
    return distinct_dicts(frame, "text_eval", TEXT_EVAL_FIELDS)
