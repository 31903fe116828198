"""Comparisons at equal block budgets (the CoFRe family, issue 33): a study that declares
`sweep.budgets` (nominal transformer-block passes per sample, e.g. [32, 64, 128, 256]) gets one
table, every arm against the primary baseline at each budget.

A trial belongs to the declared budget nearest its nominal block passes (the ledger's
``cost.nominal_block_passes``: steps x blocks per call, what an uncached run would pass through),
when within ``TOLERANCE`` of it (FP steps round: 11 steps x 3 blocks = 33 for 32). Its cell:
the primary metric with its 95% interval, entropy, the block passes the ledger measured (a
cached sampler skips calls), and the ratio to the primary baseline's trial at the same budget,
seed and n, with its paired 95% bootstrap interval (``analysis.matched``): below 1 everywhere
in the interval, the arm is better there ("better"); above 1, worse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.fronts import baseline_arms
from analysis.matched import paired_ratio
from analysis.trials import arm_order, complete_trials

NOMINAL = "cost.nominal_block_passes"
TOLERANCE = 0.1  # a trial within 10% of a declared budget belongs to it
BUDGETS_NOTE = ("Each cell: the metric [95% CI], entropy H, the block passes the ledger measured, and the ratio "
                "to the primary baseline at the same budget, seed and n [95% paired bootstrap interval]: "
                "better / worse where the interval excludes 1.")


def declared_budgets(trials: pd.DataFrame) -> list[float] | None:
    """The study's `sweep.budgets` as its records declare them, else None."""
    found = [b for b in trials.get("budgets", pd.Series(dtype=object)).dropna() if isinstance(b, list | tuple) and b]
    return [float(b) for b in found[-1]] if found else None


def nearest(nominal: float, budgets: list[float]) -> float | None:
    """The declared budget within TOLERANCE of `nominal`, else None."""
    if not np.isfinite(nominal) or nominal <= 0:
        return None
    best = min(budgets, key=lambda b: abs(nominal / b - 1))
    return best if abs(nominal / best - 1) <= TOLERANCE else None


def _number(row: pd.Series, key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, int | float | np.number) and np.isfinite(value) else None


def budget_rows(trials: pd.DataFrame, metric: str, budgets: list[float]) -> list[dict[str, Any]]:
    """One entry per search trial at a declared budget, in arm order; see the module docstring."""
    primary, _ = baseline_arms(trials)
    rows = complete_trials(trials)
    if rows.empty or NOMINAL not in rows:
        return []
    rows = rows.assign(budget=[nearest(float(v), budgets) for v in rows[NOMINAL].to_numpy(dtype=float)])
    rows = rows.loc[rows["budget"].notna()]
    base = {(b["budget"], b["seed"], b["n_samples"]): b for _, b in rows.loc[rows["arm"] == primary].iterrows()}
    order = {a: i for i, a in enumerate(arm_order(trials))}
    out = []
    for _, row in rows.sort_values("arm", key=lambda s: s.map(order), kind="stable").iterrows():
        b = base.get((row["budget"], row["seed"], row["n_samples"]))
        ratio, ci = paired_ratio(row, b, metric) if b is not None and row["arm"] != primary else (None, None)
        out.append({
            "arm": row["arm"], "trial": int(row["trial"]), "budget": float(row["budget"]),
            "nominal": float(row[NOMINAL]), "blocks": _number(row, "blocks"),
            "steps": row.get("param.method.steps"), "quality": float(row[f"q.{metric}"]),
            "quality_ci": [_number(row, f"q.{metric}_lo"), _number(row, f"q.{metric}_hi")],
            "entropy": _number(row, "q.entropy"), "flops": _number(row, "flops"),
            "wallclock": _number(row, "wallclock"), "baseline": primary,
            "ratio": ratio, "ratio_ci": ci,
            "verdict": None if ci is None else ("better" if ci[1] < 1 else "worse" if ci[0] > 1 else "level")})
    return out


def _cell(r: dict[str, Any]) -> str:
    lo, hi = r["quality_ci"]
    text = f"{r['quality']:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "")
    if r["entropy"] is not None:
        text += f", H {r['entropy']:.2f}"
    if r["blocks"] is not None:
        text += f", {r['blocks']:.0f} blocks"
    if r["ratio"] is not None:
        ci = "" if r["ratio_ci"] is None else f" [{r['ratio_ci'][0]:.2f}, {r['ratio_ci'][1]:.2f}]"
        text += f"; x{r['ratio']:.2f}{ci} {r['verdict'] or ''}".rstrip()
    return text


def budgets_table(rows: list[dict[str, Any]], budgets: list[float]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): one row per arm (several where an arm has several trials at a budget),
    one column per budget."""
    headers = ["arm", *(f"{b:g} blocks" for b in budgets)]
    by_arm: dict[str, dict[float, list[dict]]] = {}
    for r in rows:
        by_arm.setdefault(r["arm"], {}).setdefault(r["budget"], []).append(r)
    body = []
    for arm, cells in by_arm.items():
        for k in range(max(len(v) for v in cells.values())):
            body.append([arm, *(_cell(cells[b][k]) if len(cells.get(b, [])) > k else "" for b in budgets)])
    return headers, body
