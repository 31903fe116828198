"""Analysis of a wsbench run folder: fronts, iso-quality speed-ups, figures and tables.

Imports numpy, pandas and matplotlib only (never torch or lightning), so a report can be
built on any machine from ``trials.jsonl`` and the saved samples.
"""

from analysis.load import COST_AXES, load_trials
from analysis.pareto import arm_fronts, pareto_front
from analysis.report import build_summary, format_summary_table, write_report
from analysis.speedup import Points, iso_quality_speedup, speedup_vs_t0, speedups

__all__ = [
    "COST_AXES",
    "Points",
    "arm_fronts",
    "build_summary",
    "format_summary_table",
    "iso_quality_speedup",
    "load_trials",
    "pareto_front",
    "speedup_vs_t0",
    "speedups",
    "write_report",
]
