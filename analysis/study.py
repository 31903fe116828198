"""One run folder as the paper figures and sample grids see it: its trials and its summary
on one cost axis."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.load import load_trials
from analysis.summary import build_summary
from analysis.trials import complete_trials, default_metric


@dataclass
class Study:
    """A run folder, its trials (``load_trials``) and its summary (``build_summary``)."""

    run_dir: Path
    trials: pd.DataFrame
    summary: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.summary.get("study") or self.run_dir.name)

    @property
    def metric(self) -> str:
        return self.summary["metric"]

    def families(self) -> dict[str, str]:
        """{arm: method family} from each arm's first record."""
        firsts = self.trials.drop_duplicates("arm")
        return dict(zip(firsts["arm"], firsts["family"], strict=True))


def load_study(run_dir: str | Path, cost_axis: str) -> Study:
    """A run folder's trials and summary on ``cost_axis`` (its primary metric)."""
    trials = load_trials(run_dir)
    if complete_trials(trials).empty:
        raise ValueError(f"{run_dir}: no COMPLETE trial to draw (all {len(trials)} trial(s) failed)")
    return Study(Path(run_dir), trials, build_summary(trials, default_metric(trials), cost_axis))
