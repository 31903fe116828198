"""Questions asked of the trials table (``load_trials``' frame): which trials completed,
the arms in file order with their roles and knobs, the metrics and which way each is
better, and a metric's bootstrap replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
