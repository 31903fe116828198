"""Read a run folder's records into one flat table (one row per trial): ``load_trials``.

Records say what they are (``track``, ``role``, ``knobs``, ``metric_info``), nothing is
guessed. Reading the files themselves is ``analysis.records`` (shared with the sweep side,
which imports ``load_trials``, ``read_records`` and ``safe_name`` from here); questions
asked of the table are ``analysis.trials``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.cost_axes import COST_AXES
from analysis.counters import counter_columns
from analysis.records import TRIALS_FILE, read_records, safe_name  # noqa: F401 - the sweep side's names
from analysis.style import LEGACY_FAMILIES

ROLES = ("baseline", "method", "drafter")


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


def _per_sample_runs(record: dict[str, Any]) -> np.ndarray | None:
    """Each timed run's seconds per sample (``cost.wallclock_runs_s`` / n), None without them."""
    runs, n = (record.get("cost") or {}).get("wallclock_runs_s"), record.get("n_samples")
    values = _replicates(runs)
    return None if values is None or not n else values / float(n)


def _latency_runs(record: dict[str, Any]) -> np.ndarray | None:
    """Each batch-1 timed run's seconds per sample (``cost.latency_runs_s``), None without them."""
    return _replicates((record.get("cost") or {}).get("latency_runs_s"))


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
        "n_samples": record.get("n_samples"),
        "seed": record.get("seed"),
        "config_hash": record.get("config_hash"),
        "samples_path": record.get("samples_path"),
        "drafts_path": record.get("drafts_path"),
        "primary_metric": record.get("primary_metric"),
        "primary_baseline": record.get("primary_baseline"),  # the arm the study declares primary
        "evaluator": evaluator_of_record(record),  # the evaluator model behind the metrics, or None
        "models": record.get("train") if isinstance(record.get("train"), dict) else None,  # key + fit per role
        "drafter_alone": drafter_alone(record),
        "confirm": bool(record.get("confirm")),
        "confirm_of": record.get("confirm_of"),
        "others_computing": _number(((record.get("cost") or {}).get("load") or {}).get("concurrent")),
        "look": record.get("look", 1 if record.get("confirm") else None),
        "rule": record.get("rule"),  # a confirmation's stopping rule (sweeps.confirm)
        "matched": record.get("matched"),  # {on: [knobs], delta}: compare at equal settings (analysis.matched)
        "budgets": record.get("budgets"),  # nominal block budgets: compare at each (analysis.budgets)
        "seconds": _number(record.get("seconds")),
        "wallclock_runs": _per_sample_runs(record),
        "latency_runs": _latency_runs(record),
    }
    for axis, read in COST_AXES.items():
        row[axis] = _number(read(record))
    for key, value in (record.get("cost") or {}).items():
        if not isinstance(value, dict):  # breakdowns and counters are not one number
            row[f"cost.{key}"] = _number(value)
    row.update(counter_columns(record))
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
                info.setdefault(name, legacy_metric_entry(entry))
    return info


# --- records written before the generic evaluator field ---------------------------------------
# Older image records named their feature net under "features", text records their evaluator LM
# under "text_eval", and metric_info[m]["evaluator"] held that field's name. This is the one
# place analysis knows those names: on load they become the generic ``evaluator`` (with the
# declaration the tracks now write, so a resumed run's old and new records name one evaluator)
# and ``evaluator: true``.
LEGACY_EVALUATORS = {
    "features": {"label": "feature net", "suffix": " features",
                 "fields": ["name", "test_accuracy", "weights_hash", "feature_dim", "n_reference", "key"]},
    "text_eval": {"label": "evaluator LM", "suffix": "",
                  "fields": ["name", "val_ppl", "n_params", "weights_hash", "key"]},
}


def evaluator_of_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's ``evaluator`` dict; for an older record its legacy field in the same form;
    None where the record names no evaluator."""
    if isinstance(record.get("evaluator"), dict):
        return record["evaluator"]
    for field, declared in LEGACY_EVALUATORS.items():
        legacy = record.get(field)
        if isinstance(legacy, dict):
            fields = [f for f in declared["fields"] if f in legacy] + [f for f in legacy if f not in declared["fields"]]
            return {**declared, "fields": fields, **{f: legacy[f] for f in fields}}
    return None


def legacy_metric_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``metric_info`` entry with ``evaluator`` the declared bool (older records
    held the legacy field's name there, or nothing for a plain metric)."""
    flag = entry.get("evaluator", False)
    return {**entry, "evaluator": flag in LEGACY_EVALUATORS if isinstance(flag, str) else bool(flag)}


def load_trials(run_dir: str | Path) -> pd.DataFrame:
    """One row per (arm, trial), in file order.

    Columns: ``arm, method, track, role, knobs`` (a tuple of params keys), ``trial, state,
    t0`` (``params["method.t0"]``) and one column per cost axis (``nfe``,
    ``wallclock`` in seconds per sample, ``flops`` per sample), then ``q.<metric>``,
    ``q.<metric>_lo``, ``q.<metric>_hi``, ``floor.<metric>``, ``cost.<key>``, ``param.<key>``,
    ``counter.<name>`` (the method's ``cost.counters``, NaN where a record has none) and
    ``primary_baseline`` (the arm the records declare primary, None where undeclared).
    ``evaluator`` holds the record's evaluator dict (the feature net of image trials, the
    evaluator LM of text trials; older records' legacy fields mapped by ``evaluator_of_record``),
    None where a record has none. Missing numbers are NaN.
    ``boot.<metric>`` holds the trial's paired bootstrap replicates (an array, None where
    absent), ``drafter_alone`` whether no refiner ran,
    ``wallclock_runs`` each timed run's seconds per sample (an array, None in older records),
    ``look`` a confirmation's look (None for search trials). A repeated (arm, trial) keeps the last
    record, with a warning. Confirmation records (``confirm: true``: a picked setting
    re-evaluated on fresh seeds) are not rows: fronts and speed-ups use the search trials
    only, and ``df.attrs["confirmations"]`` lists them as flat rows (the last per arm,
    ``confirm_of`` and ``look``: a sequential confirmation's looks are each kept; replicates
    and ``wallclock_runs`` as tuples). ``df.attrs`` also holds ``metrics`` (the first COMPLETE record's order),
    ``metric_info`` and ``track``.
    Records without ``track``/``role`` (older wsbench) are refused with a ``ValueError``.
    """
    path = Path(run_dir) / TRIALS_FILE
    records = read_records(run_dir)
    check_records(records, path)
    frame = pd.DataFrame([_flatten(r) for r in records])
    confirmations = frame.loc[frame["confirm"]].drop_duplicates(["arm", "confirm_of", "look"], keep="last")
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
    frame.attrs["confirmations"] = Shared([
        {k: tuple(v.tolist()) if isinstance(v, np.ndarray) else v for k, v in row.items()}  # boot.*, wallclock_runs
        for row in confirmations.to_dict("records")
    ])
    return frame


class Shared(list):
    """A read-only list in ``DataFrame.attrs`` that pandas does not deep-copy: pandas copies
    attrs into every derived frame (``__finalize__``), and copying thousands of replicates at
    each filter made a report take minutes. Nothing mutates it after ``load_trials``."""

    def __deepcopy__(self, memo: dict) -> Shared:
        return self
