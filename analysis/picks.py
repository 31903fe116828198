"""Which trials a renderer shows: the one shared way to pick an arm's best and cheapest
trials, and a few budgets along its front. Every track's sample figure or text uses these."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.trials import arm_order, complete_trials


def best_and_cheapest(
    rows: pd.DataFrame, metric: str, cost_axis: str
) -> tuple[pd.Series, pd.Series]:
    """(best-quality trial, cheapest trial) among ``rows`` (one arm's COMPLETE trials with a
    finite quality and cost): ties on quality go to the cheaper, ties on cost to the better."""
    best = rows.sort_values([f"q.{metric}", cost_axis], kind="stable").iloc[0]
    cheapest = rows.sort_values([cost_axis, f"q.{metric}"], kind="stable").iloc[0]
    return best, cheapest


def arm_picks(
    trials: pd.DataFrame, metric: str, cost_axis: str
) -> dict[str, list[tuple[str, pd.Series]]]:
    """Per arm (file order; arms without a usable COMPLETE trial are left out), the trials
    to show as ``[(kind, row), ...]``: ``[("best", b), ("cheapest", c)]``, or
    ``[("best = cheapest", b)]`` when one trial is both."""
    done = complete_trials(trials)
    done = done.loc[done[f"q.{metric}"].notna() & done[cost_axis].notna()]
    out: dict[str, list[tuple[str, pd.Series]]] = {}
    for arm in arm_order(trials):
        rows = done.loc[done["arm"] == arm]
        if rows.empty:
            continue
        best, cheapest = best_and_cheapest(rows, metric, cost_axis)
        same = best.name == cheapest.name
        out[arm] = [("best = cheapest", best)] if same else [("best", best), ("cheapest", cheapest)]
    return out


def budget_picks(front: pd.DataFrame, k: int) -> pd.DataFrame:
    """Up to ``k`` trials along a front (cheapest first), always its cheapest and its best."""
    if len(front) <= k:
        return front
    return front.iloc[np.unique(np.round(np.linspace(0, len(front) - 1, k)).astype(int))]


def best_by_arm(trials: pd.DataFrame, metric: str) -> dict[str, pd.Series]:
    """Per arm (file order) its best trial on ``metric`` (ties to the fewer NFE): the setting
    the tables report, and the one a sweep re-evaluates on fresh seeds (``sweep.confirm``)."""
    done = complete_trials(trials)
    done = done.loc[done[f"q.{metric}"].notna()]
    out = {}
    for arm in arm_order(trials):
        rows = done.loc[done["arm"] == arm]
        if not rows.empty:
            out[arm] = best_and_cheapest(rows, metric, "nfe")[0]
    return out


def confirmation_of(trials: pd.DataFrame, arm: str, trial: object) -> pd.Series | None:
    """The COMPLETE confirmation of ``arm``'s trial ``trial`` at its first look (the search's n,
    so every arm's best value is read at one n), if any, as a row like the trials' own
    (replicates and timed runs back as arrays: ``attrs`` keeps them as tuples)."""
    rows = [r for r in trials.attrs.get("confirmations") or []
            if r["arm"] == arm and r["confirm_of"] == trial and r["state"] == "COMPLETE"]
    if not rows:
        return None
    return pd.Series(with_arrays(min(rows, key=lambda r: (r.get("look") or 1))))


def with_arrays(row: dict) -> dict:
    """A confirmation row of ``attrs`` with its replicates and timed runs back as arrays."""
    return {k: np.asarray(v, dtype=float) if (k.startswith("boot.") or k in ("wallclock_runs", "latency_runs"))
            and isinstance(v, tuple) else v for k, v in row.items()}
