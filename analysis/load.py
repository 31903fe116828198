"""Read a run folder's ``trials.jsonl`` into one flat table (one row per trial).

``read_records`` is the one reader of the file, shared with the sweep side (``TrialStore``),
so both agree on what a torn line is. ``load_trials`` adds what analysis needs: records say
what they are (``track``, ``role``, ``knobs``, ``metric_info``), nothing is guessed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.records import TRIALS_FILE, read_records, results_files  # noqa: F401 - re-exported
from analysis.style import LEGACY_FAMILIES

ROLES = ("baseline", "method", "drafter")


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
    "nfe": "NFE per sample (largest network; drafter included)",
    "wallclock": "wall-clock seconds per sample",
    "flops": "FLOPs per sample",
}


def check_records(records: list[dict[str, Any]], file: Path) -> None:
    """Refuse what analysis cannot read without guessing: one line, what to do about it."""
    if not records:
        raise ValueError(f"{file}: no trials recorded")
    if any("track" not in r or "role" not in r for r in records):
        raise ValueError(
            f"{file} was written by an older wsbench (records lack 'track' and 'role'); "
            "re-run the sweep into a new run folder"
        )
    for i, r in enumerate(records, start=1):
        if not r.get("arm"):
            raise ValueError(f"{file}: record {i} has no 'arm'")
        if r["role"] not in ROLES:
            raise ValueError(f"{file}: record {i} has role={r['role']!r}; allowed: {list(ROLES)}")
    tracks = list(dict.fromkeys(str(r["track"]) for r in records))
    if len(tracks) > 1:
        raise ValueError(f"{file}: records mix tracks {tracks}; analyse one track per run folder")


def _number(value: Any) -> float:
    """A float, NaN for missing or non-numeric values (JSON null, strings)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def drafter_alone(record: dict[str, Any]) -> bool:
    """The samples are the drafter's alone (no refiner call): role ``drafter``, or zero
    refiner evaluations (``cost.evals``). NFE cannot tell: it counts the drafter too."""
    cost = record.get("cost") or {}
    if record.get("role") == "drafter":
        return True
    if "evals" in cost:
        return _number(cost["evals"]) == 0
    return _number(cost.get("nfe")) == 0  # records from before the ledger counted the drafter


def _replicates(values: Any) -> np.ndarray | None:
    if not isinstance(values, list) or not values:
        return None
    return np.array([_number(v) for v in values], dtype=float)


def family_of(record: dict[str, Any]) -> str | None:
    """The method family paper figures colour by; for records written before records had it,
    the built-in method's family, else the method itself."""
    method = record.get("method") or (record.get("params") or {}).get("method.name")
    return record.get("family") or LEGACY_FAMILIES.get(method, method)


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    params = record.get("params") or {}
    row: dict[str, Any] = {
        "study": record.get("study"),
        "arm": record.get("arm"),
        "method": record.get("method") or params.get("method.name"),
        "track": str(record.get("track")),
        "role": record.get("role"),
        "family": family_of(record),
        "knobs": tuple(record.get("knobs") or ()),
        "trial": record.get("trial"),
        "state": record.get("state"),
        "error": record.get("error"),
        "t0": _number(params.get("method.t0")),
        "pairing": params.get("refiner.pairing"),
        "n_samples": record.get("n_samples"),
        "seed": record.get("seed"),
        "config_hash": record.get("config_hash"),
        "samples_path": record.get("samples_path"),
        "drafts_path": record.get("drafts_path"),
        "primary_metric": record.get("primary_metric"),
        "features": record.get("features") if isinstance(record.get("features"), dict) else None,
        "text_eval": record.get("text_eval") if isinstance(record.get("text_eval"), dict) else None,
        "models": record.get("train") if isinstance(record.get("train"), dict) else None,  # key + fit per role
        "drafter_alone": drafter_alone(record),
        "confirm": bool(record.get("confirm")),
        "confirm_of": record.get("confirm_of"),
        "others_computing": _number(((record.get("cost") or {}).get("load") or {}).get("concurrent")),
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
    for key, value in (record.get("quality_boot") or {}).items():
        row[f"boot.{key}"] = _replicates(value)
    for key, value in (record.get("reference_floor") or {}).items():
        row[f"floor.{key}"] = _number(value)
    for key, value in params.items():
        row[f"param.{key}"] = value
    return row


def _metric_info(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Union of the records' ``metric_info`` (first declaration wins), in first-seen order."""
    info: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, entry in (r.get("metric_info") or {}).items():
            if isinstance(entry, dict):
                info.setdefault(name, dict(entry))
    return info


def load_trials(run_dir: str | Path) -> pd.DataFrame:
    """One row per (arm, trial), in file order.

    Columns: ``arm, method, track, role, knobs`` (a tuple of params keys), ``trial, state,
    t0`` (``params["method.t0"]``), ``pairing`` and one column per cost axis (``nfe``,
    ``wallclock`` in seconds per sample, ``flops`` per sample), then ``q.<metric>``,
    ``q.<metric>_lo``, ``q.<metric>_hi``, ``floor.<metric>``, ``cost.<key>``, ``param.<key>``.
    ``features`` holds the record's feature-net dict (image trials), ``text_eval`` the
    evaluator LM (text trials); None where a record has none. Missing numbers are NaN.
    ``boot.<metric>`` holds the trial's paired bootstrap replicates (an array, None where
    absent), ``drafter_alone`` whether no refiner ran. A repeated (arm, trial) keeps the last
    record, with a warning. Confirmation records (``confirm: true``: a picked setting
    re-evaluated on fresh seeds) are not rows: fronts and speed-ups use the search trials
    only, and ``df.attrs["confirmations"]`` lists them as flat rows (the last per arm and
    ``confirm_of``; replicates as tuples). ``df.attrs`` also holds ``metrics`` (the first COMPLETE record's order),
    ``metric_info`` and ``track``.
    Records without ``track``/``role`` (older wsbench) are refused with a ``ValueError``.
    """
    path = Path(run_dir) / TRIALS_FILE
    records = read_records(run_dir)
    check_records(records, path)
    frame = pd.DataFrame([_flatten(r) for r in records])
    confirmations = frame.loc[frame["confirm"]].drop_duplicates(["arm", "confirm_of"], keep="last")
    frame = frame.loc[~frame["confirm"]].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{path}: only confirmation records, no search trials")
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
    frame.attrs["metric_info"] = _metric_info(records)
    frame.attrs["track"] = str(records[0]["track"])
    # replicates as tuples: pandas compares attrs with ==, which arrays would make ambiguous
    frame.attrs["confirmations"] = [
        {k: tuple(v.tolist()) if k.startswith("boot.") and isinstance(v, np.ndarray) else v for k, v in row.items()}
        for row in confirmations.to_dict("records")
    ]
    return frame


def boot_matrix(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """The replicates of ``metric`` of ``rows`` as [len(rows), B] (NaN rows where a trial has
    none); [len(rows), 0] when no row has any or their counts differ (nothing to pair)."""
    column = f"boot.{metric}"
    values = list(rows[column]) if column in rows else []
    lengths = {len(v) for v in values if isinstance(v, np.ndarray)}
    if len(lengths) != 1:
        return np.zeros((len(rows), 0))
    width = lengths.pop()
    return np.array([v if isinstance(v, np.ndarray) else np.full(width, np.nan) for v in values]).reshape(
        len(rows), width
    )


def metrics_of(frame: pd.DataFrame) -> list[str]:
    """Quality metric names in the table: the first COMPLETE record's order, then any others."""
    found = [c[2:] for c in frame.columns if c.startswith("q.") and not c.endswith(("_lo", "_hi"))]
    ordered = [m for m in frame.attrs.get("metrics", []) if m in found]
    return ordered + [m for m in found if m not in ordered]


def higher_is_better(frame: pd.DataFrame, metric: str) -> bool:
    """What the track declared for ``metric`` (``metric_info``); False when undeclared."""
    return bool((frame.attrs.get("metric_info", {}).get(metric) or {}).get("higher_is_better"))


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


def arm_roles(frame: pd.DataFrame) -> dict[str, str]:
    """``{arm: role}`` from each arm's first record."""
    firsts = frame.drop_duplicates("arm")
    return dict(zip(firsts["arm"], firsts["role"], strict=True))


def arm_knobs(frame: pd.DataFrame) -> dict[str, list[str]]:
    """``{arm: knobs}``: the union of the arm's records' ``knobs``, in first-seen order."""
    out: dict[str, list[str]] = {}
    for arm, knobs in zip(frame["arm"], frame["knobs"], strict=True):
        out.setdefault(arm, [])
        out[arm] += [k for k in knobs if k not in out[arm]]
    return out


def knob_columns(frame: pd.DataFrame) -> list[str]:
    """The union of every arm's knobs (one table column each), in first-seen order, except
    that a knob new to the union goes before the knobs its arm lists after it: noise_start's
    ``[steps, solver]`` then warm_start's ``[t0, steps, solver]`` give ``[t0, steps, solver]``."""
    columns: list[str] = []
    for knobs in arm_knobs(frame).values():
        for i, knob in enumerate(knobs):
            if knob in columns:
                continue
            later = [columns.index(k) for k in knobs[i + 1 :] if k in columns]
            columns.insert(min(later) if later else len(columns), knob)
    return columns


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
    """The distinct feature nets (``features`` dicts) of the trials, in first-seen order; more
    than one means the trials mix feature nets and their FID/KID are not comparable."""
    return distinct_dicts(frame, "features", FEATURE_FIELDS)


def text_evaluators(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct evaluator LMs (``text_eval`` dicts), like ``feature_nets``."""
    return distinct_dicts(frame, "text_eval", TEXT_EVAL_FIELDS)


def safe_name(text: str) -> str:
    """A file-name-safe folder or file name for an arm; a name that needed changing gets a
    short hash of the original, so `a,b` and `a_b` never share a folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_.") or "arm"
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha1(str(text).encode()).hexdigest()[:6]}"
