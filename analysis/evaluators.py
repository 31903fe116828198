"""Evaluator provenance: which feature net (FID/KID) or evaluator LM (gen PPL) the trials'
numbers were computed with, read from the records' ``features`` and ``text_eval`` dicts.
More than one net in a study means its numbers are not comparable: reports say so."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

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
