"""An arm's measured points on one metric and one cost axis: what a speed-up, its interval
and a front are read off (``analysis.fronts``, ``analysis.intervals``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.cost_axes import COST_AXES, TIMED_AXES
from analysis.trials import boot_matrix, complete_trials


@dataclass(frozen=True)
class Points:
    """Measured trials of one arm on one metric and one cost axis (equal-length arrays)."""

    cost: np.ndarray
    quality: np.ndarray
    quality_lo: np.ndarray
    quality_hi: np.ndarray
    nfe: np.ndarray
    trial: np.ndarray
    drafter: np.ndarray  # bool: the drafter alone made these samples (no refiner call)
    boot: np.ndarray  # [n, B] paired bootstrap replicates of the quality; B = 0 when none
    pairing: tuple | None = ()  # (seed, n_samples) shared by the points; None when mixed
    # [n, R] each timed run's cost (wall-clock axis only; R = 0 otherwise): resampled per
    # replicate so that the interval carries timing noise beside sampling noise
    runs: np.ndarray | None = None
    smallest: np.ndarray | None = None  # bool: the point sits at its grid's smallest budget (None: read off these points)

    def subset(self, mask: np.ndarray) -> Points:
        """The points where ``mask`` is True (pairing kept)."""
        return Points(**{f.name: getattr(self, f.name) if f.name == "pairing" or getattr(self, f.name) is None
                         else getattr(self, f.name)[mask] for f in fields(self)})

    def within(self, budget: float | None) -> Points:
        """The points at most ``budget`` NFE per sample (all when None): a baseline at a small budget."""
        return self if budget is None else self.subset(self.nfe <= budget + 1e-9)

    @classmethod
    def of(
        cls,
        cost: ArrayLike,
        quality: ArrayLike,
        *,
        lo: ArrayLike | None = None,
        hi: ArrayLike | None = None,
        nfe: ArrayLike | None = None,
        trial: ArrayLike | None = None,
        drafter: ArrayLike | None = None,
        boot: ArrayLike | None = None,
        pairing: tuple | None = (),
        runs: ArrayLike | None = None,
    ) -> Points:
        """Build from sequences; missing CI bounds are NaN, missing nfe equals cost, trial =
        index, drafter = (nfe == 0), boot = no replicates; ``pairing`` () = paired with any."""
        cost = np.asarray(cost, dtype=float)
        n = len(cost)
        nan = np.full(n, np.nan)
        nfe = cost if nfe is None else np.asarray(nfe, dtype=float)
        return cls(
            cost=cost,
            quality=np.asarray(quality, dtype=float),
            quality_lo=nan if lo is None else np.asarray(lo, dtype=float),
            quality_hi=nan if hi is None else np.asarray(hi, dtype=float),
            nfe=nfe,
            trial=np.arange(n) if trial is None else np.asarray(trial),
            drafter=(nfe == 0) if drafter is None else np.asarray(drafter, dtype=bool),
            boot=np.zeros((n, 0)) if boot is None else np.asarray(boot, dtype=float).reshape(n, -1),
            pairing=pairing,
            runs=None if runs is None else np.asarray(runs, dtype=float).reshape(n, -1),
        )


def points_for(trials: pd.DataFrame, metric: str, cost_axis: str) -> Points:
    """The COMPLETE trials of ``trials`` (usually one arm) with a finite cost on ``cost_axis``."""
    if cost_axis not in COST_AXES:
        raise ValueError(f"cost_axis={cost_axis!r} is not one of {sorted(COST_AXES)}")
    rows = complete_trials(trials)
    rows = rows.loc[np.isfinite(rows[cost_axis].to_numpy(dtype=float))]

    def column(name: str) -> np.ndarray:
        return rows[name].to_numpy(dtype=float) if name in rows else np.full(len(rows), np.nan)

    return Points(
        cost=column(cost_axis),
        quality=column(f"q.{metric}"),
        quality_lo=column(f"q.{metric}_lo"),
        quality_hi=column(f"q.{metric}_hi"),
        nfe=column("nfe"),
        trial=rows["trial"].to_numpy(),
        drafter=rows["drafter_alone"].to_numpy(dtype=bool),
        boot=boot_matrix(rows, metric),
        pairing=_pairing(rows),
        runs=run_matrix(rows, TIMED_AXES[cost_axis]) if cost_axis in TIMED_AXES else None,
    )


def run_matrix(rows: pd.DataFrame, column: str = "wallclock_runs") -> np.ndarray | None:
    """Each row's timed runs (seconds per sample) in ``column`` as [len(rows), R], NaN-padded;
    None when any row has none (older records): then the median alone is the cost."""
    values = list(rows[column]) if column in rows else []
    if not values or any(not isinstance(v, np.ndarray) or not len(v) for v in values):
        return None
    width = max(len(v) for v in values)
    return np.array([np.pad(v.astype(float), (0, width - len(v)), constant_values=np.nan) for v in values])


def _pairing(rows: pd.DataFrame) -> tuple | None:
    """The (seed, n_samples) all ``rows`` share, None when they mix several (unpaired)."""
    keys = set(zip(rows["seed"], rows["n_samples"], strict=True))
    return next(iter(keys)) if len(keys) == 1 else (None if keys else ())
