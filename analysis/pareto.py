"""Pareto fronts of (cost, quality) points, both minimised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.load import arm_order, complete_trials


def pareto_front(costs: Sequence[float], qualities: Sequence[float]) -> np.ndarray:
    """Indices of the non-dominated points, sorted by increasing cost.

    Both cost and quality (a distance) are minimised. A point is kept only if it is strictly
    better in quality than every cheaper-or-equal point already kept, so among exact ties
    (same cost and quality) only the lowest index survives, and at equal cost only the best
    quality. Points with a NaN or infinite coordinate are ignored.

    >>> pareto_front([1, 2, 3], [0.5, 0.6, 0.1]).tolist()
    [0, 2]
    """
    cost = np.asarray(costs, dtype=float)
    quality = np.asarray(qualities, dtype=float)
    if cost.shape != quality.shape or cost.ndim != 1:
        raise ValueError(
            f"costs and qualities must be 1-D of equal length, got {cost.shape} and {quality.shape}"
        )
    finite = np.flatnonzero(np.isfinite(cost) & np.isfinite(quality))
    # lexsort sorts by the last key first: cost, then quality, then index (deterministic ties).
    order = finite[np.lexsort((finite, quality[finite], cost[finite]))]
    front: list[int] = []
    best = np.inf
    for i in order:
        if quality[i] < best:
            front.append(int(i))
            best = quality[i]
    return np.asarray(front, dtype=int)


def arm_fronts(trials: pd.DataFrame, metric: str, cost_axis: str) -> dict[str, pd.DataFrame]:
    """Per arm, its COMPLETE trials on the (``cost_axis``, ``q.<metric>``) front, cheapest first.

    Arms without a single finite point map to an empty frame (kept so tables list them).
    """
    done = complete_trials(trials)
    fronts = {}
    for arm in arm_order(trials):
        rows = done.loc[done["arm"] == arm]
        idx = (
            pareto_front(
                rows[cost_axis].to_numpy(dtype=float), rows[f"q.{metric}"].to_numpy(dtype=float)
            )
            if len(rows)
            else []
        )
        fronts[arm] = rows.iloc[idx]
    return fronts


def best_and_cheapest(
    rows: pd.DataFrame, metric: str, cost_axis: str
) -> tuple[pd.Series, pd.Series]:
    """(best-quality trial, cheapest trial) among ``rows`` (one arm's COMPLETE trials with a
    finite quality and cost): ties on quality go to the cheaper, ties on cost to the better."""
    best = rows.sort_values([f"q.{metric}", cost_axis], kind="stable").iloc[0]
    cheapest = rows.sort_values([cost_axis, f"q.{metric}"], kind="stable").iloc[0]
    return best, cheapest
