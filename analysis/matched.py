"""Matched comparisons: each arm against the primary baseline at the same setting of the
knobs the study names (`sweep.matched_on`, e.g. method.steps), paired on the same seeds.

The scheduling family's question (issue 32) is not "how fast to the baseline's best" but "at
the baseline's own step count, does a schedule keep its quality while spending less": for each
trial of an arm and the baseline's trial with the same seed, n and matched knob values,
- quality ratio arm / baseline, its 95% interval from the paired bootstrap replicates (replicate
  b of both resampled the same sample indices: ``analysis.intervals``); it *matches* when the
  interval's upper end is at most 1 + delta (`sweep.match_delta`);
- FLOPs saved, 1 - FLOPs(arm) / FLOPs(baseline) (counted calls: a point value), and wall-clock
  saved with a 95% interval from resampling each side's timed runs;
- the baseline at fewer steps for the same FLOPs: its trial (same seed and n) with the most
  FLOPs at or below the arm's, and the paired ratio against it (below 1 everywhere in the
  interval: the arm beats simply taking fewer baseline steps).
Pairs exist only within one (seed, n): the search's trials pair with each other, confirmations
of a finalists' run with theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.fronts import baseline_arms
from analysis.intervals import SPEEDUP_CI, TIMING_SEED
from analysis.picks import with_arrays
from analysis.trials import arm_roles, complete_trials

DEFAULT_DELTA = 0.02
MATCHED_NOTE = ("Ratio: the arm's quality over the baseline's at the same setting, seed and n (95% paired "
                "bootstrap interval); matches: its upper end <= 1 + delta. Savings are shares of the baseline's "
                "cost at that setting; the last column pairs the arm with the baseline's trial of the most FLOPs "
                "at or below the arm's (beats it: the interval is below 1).")


def _interval(values: np.ndarray, ci: float = SPEEDUP_CI) -> list[float] | None:
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return None
    tail = (1 - ci) / 2 * 100
    return [float(np.percentile(values, tail, method="inverted_cdf")),
            float(np.percentile(values, 100 - tail, method="inverted_cdf"))]


def paired_ratio(a: pd.Series, b: pd.Series, metric: str) -> tuple[float, list[float] | None]:
    """Quality of trial a over trial b, with the 95% interval of their paired bootstrap replicates."""
    ra, rb = a.get(f"boot.{metric}"), b.get(f"boot.{metric}")
    point = float(a[f"q.{metric}"] / b[f"q.{metric}"])
    if not isinstance(ra, np.ndarray) or not isinstance(rb, np.ndarray) or len(ra) != len(rb):
        return point, None
    with np.errstate(divide="ignore", invalid="ignore"):
        return point, _interval(ra / rb)


def _wall_saving(a: pd.Series, b: pd.Series, n_boot: int = 1000) -> tuple[float, list[float] | None]:
    point = float(1 - a["wallclock"] / b["wallclock"])
    ra, rb = a.get("wallclock_runs"), b.get("wallclock_runs")
    if not isinstance(ra, np.ndarray) or not isinstance(rb, np.ndarray) or min(len(ra), len(rb)) < 3:
        return point, None  # a median of one or two runs has no interval worth the name
    rng = np.random.default_rng(TIMING_SEED)
    med = lambda runs: np.median(runs[rng.integers(0, len(runs), (n_boot, len(runs)))], axis=1)  # noqa: E731
    return point, _interval(1 - med(ra) / med(rb))


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _setting(row: pd.Series, on: list[str]) -> tuple:
    return tuple(_plain(row.get(f"param.{k}")) for k in on)


def declared(trials: pd.DataFrame) -> dict[str, Any] | None:
    """The study's {on, delta} as its records declare it (`sweep.matched_on`), else None."""
    found = [m for m in trials.get("matched", pd.Series(dtype=object)).dropna() if isinstance(m, dict) and m.get("on")]
    return found[-1] if found else None


def matched_rows(trials: pd.DataFrame, metric: str, on: list[str], delta: float = DEFAULT_DELTA,
                 ) -> list[dict[str, Any]]:
    """One entry per (arm trial, baseline trial at the same setting, seed and n); see the module
    docstring. Empty when the study names no matched knobs or has no primary baseline."""
    primary, _ = baseline_arms(trials)
    rows = complete_trials(trials)
    if not on or primary is None or rows.empty:
        return []
    again = _confirmations(trials)
    if not again.empty:  # fresh seeds: their own (seed, n) groups
        rows = pd.concat([rows.assign(confirm=False), again.assign(confirm=True)], ignore_index=True)
    out = []
    for (seed, n), group in rows.groupby(["seed", "n_samples"], sort=False):
        base = group.loc[group["arm"] == primary]
        if base.empty:
            continue
        by_setting = {_setting(b, on): b for _, b in base.iterrows()}
        for _, row in group.loc[group["arm"] != primary].iterrows():
            b = by_setting.get(_setting(row, on))
            if b is None:
                continue
            ratio, ci = paired_ratio(row, b, metric)
            wall, wall_ci = _wall_saving(row, b)
            cheaper = base.loc[base["flops"] <= row["flops"] * (1 + 1e-9)]
            fewer = None
            if not cheaper.empty:
                c = cheaper.loc[cheaper["flops"].idxmax()]
                r2, ci2 = paired_ratio(row, c, metric)
                fewer = {"setting": dict(zip(on, _setting(c, on), strict=True)), "trial": int(c["trial"]),
                         "flops_saved": float(1 - c["flops"] / b["flops"]), "ratio": r2, "ratio_ci": ci2,
                         "beats": bool(ci2 is not None and ci2[1] < 1), "loses": bool(ci2 is not None and ci2[0] > 1)}
            out.append({
                "arm": row["arm"], "trial": int(row["trial"]), "confirm": bool(row.get("confirm") is True),
                "seed": int(seed), "n_samples": int(n), "setting": dict(zip(on, _setting(row, on), strict=True)),
                "params": {k: _plain(row.get(f"param.{k}")) for k in row.get("knobs") or ()  # what the arm sets
                           if _known(row.get(f"param.{k}"))},
                "baseline": primary, "baseline_trial": int(b["trial"]),
                "quality": float(row[f"q.{metric}"]), "baseline_quality": float(b[f"q.{metric}"]),
                "entropy": _maybe(row, "q.entropy"), "baseline_entropy": _maybe(b, "q.entropy"),
                "ratio": ratio, "ratio_ci": ci, "matches": bool(ci is not None and ci[1] <= 1 + delta),
                "flops_saved": float(1 - row["flops"] / b["flops"]), "wallclock_saved": wall,
                "wallclock_saved_ci": wall_ci, "fewer_baseline_steps": fewer, "delta": float(delta)})
    return out


def _confirmations(trials: pd.DataFrame) -> pd.DataFrame:
    """The COMPLETE confirmation records (kept beside the search's: ``analysis.load``)."""
    rows = [with_arrays(r) for r in trials.attrs.get("confirmations") or [] if r.get("state") == "COMPLETE"]
    return pd.DataFrame(rows)


def nominated(rows: list[dict[str, Any]], methods: set[str]) -> dict[str, dict[str, Any]]:
    """Per arm of ``methods`` (role method: the baselines are what it is compared with), the
    search trial to confirm among those that save FLOPs: the largest saving whose *point*
    ratio is at most 1 + delta, else the smallest ratio (the arm's closest to the baseline, so
    that every arm gets a fresh-seed number). The search's n is small (its intervals are wider
    than delta), so it nominates on point estimates; the confirmation at a larger n decides."""
    out: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in rows if r["arm"] in methods):
        saving = [r for r in rows if r["arm"] == arm and not r["confirm"] and r["flops_saved"] > 0]
        within = [r for r in saving if r["ratio"] <= 1 + r["delta"]]
        if within:
            out[arm] = max(within, key=lambda r: r["flops_saved"])
        elif saving:
            out[arm] = min(saving, key=lambda r: r["ratio"])
    return out


def finalists(trials: pd.DataFrame, metric: str) -> dict[str, list[Any]]:
    """``{arm: [search trial, ...]}`` to re-run on fresh seeds: each arm's nominated trial
    (``nominated``), the baseline's trial it was paired with and the baseline's trial at or
    below its FLOPs (``fewer_baseline_steps``); empty when the records declare no matched knobs."""
    found = declared(trials)
    if not found:
        return {}
    rows = [r for r in matched_rows(trials, metric, list(found["on"]), float(found["delta"])) if not r["confirm"]]
    out: dict[str, list[Any]] = {}
    roles = arm_roles(trials)
    for arm, row in nominated(rows, {a for a, role in roles.items() if role == "method"}).items():
        for who, trial in ((row["baseline"], row["baseline_trial"]), (arm, row["trial"]),
                           (row["baseline"], (row["fewer_baseline_steps"] or {}).get("trial"))):
            if trial is not None and trial not in out.setdefault(who, []):
                out[who].append(trial)
    primary = next(iter(out), None)
    return dict(sorted(out.items(), key=lambda kv: kv[0] != primary))


def _known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _maybe(row: pd.Series, key: str) -> float | None:
    value = row.get(key)
    return float(value) if _known(value) else None


def best_matching(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm, its matching entry with the largest FLOPs saving (> 0), read from its
    fresh-seed confirmations where it has any (the search's picks are optimistic), else
    from the search; an arm with none that matches is left out."""
    confirmed = {r["arm"] for r in rows if r["confirm"]}
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["n_samples"], r["flops_saved"])):
        if row["matches"] and row["flops_saved"] > 0 and row["confirm"] == (row["arm"] in confirmed):
            out[row["arm"]] = row
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}%"


def _ci(ci: list[float] | None, fmt: str) -> str:
    return "" if ci is None else " [" + ", ".join(format(v, fmt) for v in ci) + "]"


def matched_table(rows: list[dict[str, Any]], metric: str) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): every matched entry, grouped by (seed, n) and arm, the largest FLOPs
    saving first; the saving columns are shares of the baseline's cost (positive: cheaper)."""
    headers = ["arm", "setting", "n", f"{metric} ratio [95% CI]", "matches", "FLOPs saved",
               "wall-clock saved [95% CI]", "entropy (baseline)", "baseline at <= FLOPs: setting, ratio [95% CI]"]
    body = []
    order = sorted(rows, key=lambda r: (-r["n_samples"], r["arm"], -r["flops_saved"]))
    for r in order:
        setting = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["params"].items() if k not in r["setting"])
        setting = ", ".join([*(f"{k.split('.')[-1]}={v}" for k, v in r["setting"].items()), *filter(None, [setting])])
        ent = "n/a" if r["entropy"] is None else f"{r['entropy']:.3f} ({r['baseline_entropy']:.3f})"
        fewer = r["fewer_baseline_steps"]
        if fewer is None:
            other = "none cheaper"
        else:
            at = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in fewer["setting"].items())
            word = "beats it" if fewer["beats"] else ("loses" if fewer["loses"] else "undecided")
            other = f"{at}: {fewer['ratio']:.3f}{_ci(fewer['ratio_ci'], '.3f')} ({word})"
        body.append([r["arm"], setting, str(r["n_samples"]) + (" fresh" if r["confirm"] else ""),
                     f"{r['ratio']:.3f}{_ci(r['ratio_ci'], '.3f')}",
                     ("yes" if r["matches"] else "no") + f" (<= {1 + r['delta']:.2f})",
                     _pct(r["flops_saved"]), _pct(r["wallclock_saved"]) + _ci(
                         None if r["wallclock_saved_ci"] is None else [100 * v for v in r["wallclock_saved_ci"]], "+.1f"),
                     ent, other])
    return headers, body
