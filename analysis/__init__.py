"""Analysis of a wsbench run folder: fronts, iso-quality speed-ups, figures and tables.

Imports numpy, pandas and matplotlib only (never torch or lightning, nor ``sweeps`` or
``lightning_modules``), so a report can be built on any machine from ``trials.jsonl`` and
the saved samples. Records say what they are (``track``, ``role``, ``knobs``,
``metric_info``); analysis reads that and guesses nothing.
"""

from analysis.cost_axes import COST_AXES
from analysis.fronts import (
    arm_fronts,
    baseline_arms,
    iso_quality_speedup,
    pareto_front,
    speedup_vs_t0,
    speedups,
    t0_arms,
)
from analysis.load import load_trials
from analysis.measured import Points
from analysis.picks import arm_picks, best_and_cheapest
from analysis.records import read_records
from analysis.report import write_report
from analysis.summary import build_summary
from analysis.terminal import format_summary_table

__all__ = [
    "COST_AXES",
    "Points",
    "arm_fronts",
    "arm_picks",
    "baseline_arms",
    "best_and_cheapest",
    "build_summary",
    "format_summary_table",
    "iso_quality_speedup",
    "load_trials",
    "pareto_front",
    "read_records",
    "speedup_vs_t0",
    "speedups",
    "t0_arms",
    "write_report",
]
