"""Evaluator provenance: which evaluator model (a feature net for FID/KID, an evaluator LM for
gen PPL) the trials' numbers were computed with, read from the records' generic ``evaluator``
dict as the track declared it: ``label`` (what reports call the model), ``suffix`` (after its
name in a metric's label), ``fields`` (its identifying fields, in display order) and their
values. More than one evaluator in a study means its numbers are not comparable: reports say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from analysis.tables import fmt_number

DECLARATION = ("label", "suffix", "fields")  # how the evaluator reads, beside its identity


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


def distinct_evaluators(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct evaluators (``evaluator`` dicts) of the trials, in first-seen order, with
    ``arms`` and ``n_trials``; more than one means the trials mix evaluator models and the
    metrics computed with them are not comparable."""
    return distinct_dicts(frame, "evaluator", DECLARATION)


def fields_of(evaluator: dict[str, Any]) -> list[str]:
    """The evaluator's identifying fields in display order (its declared ``fields``, else its
    keys in record order)."""
    declared = evaluator.get("fields")
    if isinstance(declared, list | tuple):
        return [str(f) for f in declared]
    return [k for k in evaluator if k not in (*DECLARATION, "arms", "n_trials")]


def _n_params(value: Any) -> str | None:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        return None
    scale, unit = (1e6, "M") if value >= 1e6 else (1e3, "k") if value >= 1e3 else (1, "")
    return f"{value / scale:.3g}{unit} parameters"


# How a field reads in the note under every table (None: left out); any other field reads
# "<field> <value>" when it has a value, so a plugin track's evaluator is named too.
FIELD_TEXT: dict[str, Callable[[Any], str | None]] = {
    "test_accuracy": lambda v: f"test accuracy {fmt_number(v)}",
    "val_ppl": lambda v: f"val PPL {fmt_number(v)}",
    "n_params": _n_params,
    "weights_hash": lambda v: f"weights {v or '—'}",
    "feature_dim": lambda v: None if v is None else f"{v}-d features",
    "n_reference": lambda v: None if v is None else f"{v} reference samples",
    "key": lambda v: f"key {v}" if v else None,
}


def _field_text(field: str, value: Any) -> str | None:
    if field in FIELD_TEXT:
        return FIELD_TEXT[field](value)
    if value is None:
        return None
    return f"{field} {fmt_number(value) if isinstance(value, int | float) else value}"


def evaluator_text(evaluator: dict[str, Any]) -> str:
    """``name (field, field, ...)``, e.g. "digits-classifier (test accuracy 0.9188, weights
    14a6..., 64-d features, 600 reference samples, key feature_net-17fa...)"."""
    parts = [_field_text(f, evaluator.get(f)) for f in fields_of(evaluator) if f != "name"]
    return f"{evaluator.get('name') or 'unnamed'} ({', '.join(p for p in parts if p is not None)})"
