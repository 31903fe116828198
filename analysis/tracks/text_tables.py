"""The text report's own tables: the substrate, drafts against their refinements, and
speed-ups at matched entropy.

- ``substrate``: each model a baseline arm samples with (MDLM, autoregressive) beside the
  evaluator: parameters, validation bits per character (exact for the autoregressive model,
  an ELBO bound for MDLM), the best gen PPL the arm reached and its entropy. Arms of the
  same method (e.g. ``mdlm``, ``mdlm[2x]``, ``mdlm[d5]``) get the difference to the first one
  and that one's CI half-width: the convergence check.
- ``drafts``: per WS-DFM arm, its best trial against the drafter alone on the same drafts
  (same drafter model, seed and n): gen PPL of both, the ratio refined / draft with its paired
  bootstrap interval, and whether the refined samples' entropy lies in the held-out band; then
  the same on the confirmation's fresh seeds.
- ``matched_entropy``: speed-ups at iso-gen-PPL where every point used (the baselines' and
  the arm's) has its entropy inside the held-out band, so no arm buys gen PPL with entropy.

The band is the held-out text's entropy (the floor) plus or minus ``ENTROPY_BAND`` nats.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.cost_axes import AXIS_SHORT, SPEEDUP_AXES
from analysis.fronts import speedups
from analysis.labels import metric_text
from analysis.picks import best_by_arm, confirmation_of
from analysis.summary import strict
from analysis.tables import fmt_number, fmt_quality, write_table
from analysis.tracks.renderer import Context
from analysis.trials import arm_order, arm_roles, boot_matrix, complete_trials

ENTROPY_BAND = 0.05  # nats either side of held-out text's mean per-window entropy
PAIRED_CI = 0.95


def entropy_band(trials: pd.DataFrame, tolerance: float = ENTROPY_BAND) -> dict[str, float] | None:
    """{"floor", "lo", "hi", "tolerance"} from the trials' held-out entropy; None without one."""
    if "floor.entropy" not in trials or "q.entropy" not in trials:
        return None
    floor = pd.to_numeric(trials["floor.entropy"], errors="coerce").median()
    if not math.isfinite(floor):
        return None
    return {"floor": float(floor), "lo": float(floor - tolerance), "hi": float(floor + tolerance),
            "tolerance": float(tolerance)}


def in_band(trials: pd.DataFrame, band: dict[str, float]) -> pd.Series:
    entropy = pd.to_numeric(trials["q.entropy"], errors="coerce")
    return (entropy >= band["lo"]) & (entropy <= band["hi"])


def matched_entropy_speedups(trials: pd.DataFrame, metric: str, band: dict[str, float]) -> dict[str, Any]:
    """``{axis: {baseline: {arm: result}}}`` over the complete trials inside the band only."""
    done = complete_trials(trials)
    inside = done.loc[in_band(done, band)]
    if inside.empty:
        return {axis: {} for axis in SPEEDUP_AXES}
    return {axis: speedups(inside, metric, axis) for axis in SPEEDUP_AXES}


def _models(row: pd.Series) -> dict[str, dict]:
    models = row.get("models")
    return models if isinstance(models, dict) else {}


def substrate_rows(trials: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    """One entry per baseline arm whose models report a validation fit, then the evaluator."""
    out, firsts, roles = [], {}, arm_roles(trials)
    for arm, row in best_by_arm(trials, metric).items():
        if roles.get(arm) != "baseline":  # a family's method using substrate models is not a substrate row
            continue
        fits = {n: m for n, m in _models(row).items() if isinstance(m, dict) and m.get("val_bits_per_char") is not None}
        for need, info in fits.items():
            value, lo, hi = (float(row.get(f"q.{metric}{s}", np.nan)) for s in ("", "_lo", "_hi"))
            entry = {"arm": arm, "model": need, "key": info.get("key"), "n_params": info.get("n_params"),
                     "steps": info.get("steps"), "val_bits_per_char": info.get("val_bits_per_char"),
                     "value": value, "lo": lo, "hi": hi, "entropy": float(row.get("q.entropy", np.nan)),
                     "method": row["method"]}
            first = firsts.setdefault(row["method"], entry)
            if first is not entry:
                entry["delta"] = value - first["value"]
                entry["first_half_width"] = (first["hi"] - first["lo"]) / 2
                entry["within_ci"] = bool(abs(entry["delta"]) < entry["first_half_width"])
            out.append(entry)
    lm = next((v for v in trials.get("evaluator", []) if isinstance(v, dict)), None)  # the evaluator LM
    if lm and lm.get("val_ppl"):
        out.append({"arm": "evaluator", "model": "text_lm", "key": lm.get("key"), "n_params": lm.get("n_params"),
                    "val_bits_per_char": math.log2(float(lm["val_ppl"]))})
    return out


def drafts_vs_refined(trials: pd.DataFrame, metric: str, band: dict[str, float] | None) -> list[dict[str, Any]]:
    """Per arm with a drafter and a refiner: its best trial against the drafter-alone trial of
    the same drafter model, seed and n (the same drafts), with a paired bootstrap ratio; then
    the same for both settings' confirmations on fresh seeds (``seeds``: search | fresh),
    which are free of the pick's optimism."""
    done = complete_trials(trials)
    alone = done.loc[done["drafter_alone"].astype(bool)]
    picks = best_by_arm(trials, metric)  # the settings the sweep re-evaluates on fresh seeds
    again = [confirmation_of(trials, a, picks[a]["trial"]) for a in alone["arm"].unique() if a in picks]
    alone_again = pd.DataFrame([c for c in again if c is not None])
    roles, out = arm_roles(trials), []
    for arm, row in picks.items():
        if roles.get(arm) != "method" or "refiner" not in _models(row) or not _models(row).get("drafter", {}).get("key"):
            continue
        entry = _paired(row, alone, metric, band)
        if entry is None:
            continue
        out.append({"arm": arm, "seeds": "search", "trial": row["trial"]} | entry)
        confirmed = confirmation_of(trials, arm, row["trial"])
        fresh = None if confirmed is None or alone_again.empty else _paired(confirmed, alone_again, metric, band)
        if fresh is not None:
            out.append({"arm": arm, "seeds": "fresh", "trial": row["trial"]} | fresh)
    return out


def _paired(row: pd.Series, alone: pd.DataFrame, metric: str, band: dict[str, float] | None) -> dict | None:
    """``row`` against the drafter-alone row with its drafter model, seed and n; None without one."""
    drafter = _models(row)["drafter"]["key"]
    same = alone.loc[[(_models(r).get("drafter", {}).get("key") == drafter and r["seed"] == row["seed"]
                       and r["n_samples"] == row["n_samples"]) for _, r in alone.iterrows()]]
    if same.empty:
        return None
    draft = same.iloc[-1]
    both = boot_matrix(pd.DataFrame([row, draft]), metric)
    ratio = both[0] / both[1] if both.shape[1] else np.array([])
    ratio = ratio[np.isfinite(ratio)]
    tail = (1 - PAIRED_CI) / 2
    entry = {"drafter_arm": draft["arm"], "seed": int(row["seed"]),
             "refined": float(row[f"q.{metric}"]), "draft": float(draft[f"q.{metric}"]),
             "ratio": float(row[f"q.{metric}"] / draft[f"q.{metric}"]),
             "ratio_ci": [float(np.quantile(ratio, tail)), float(np.quantile(ratio, 1 - tail))] if len(ratio) else None,
             "entropy": float(row.get("q.entropy", np.nan)), "draft_entropy": float(draft.get("q.entropy", np.nan))}
    entry["better"] = bool(entry["ratio_ci"] and entry["ratio_ci"][1] < 1)
    entry["in_band"] = bool(band and band["lo"] <= entry["entropy"] <= band["hi"])
    return entry


def substrate_table(rows: list[dict[str, Any]], name: str) -> tuple[list[str], list[list[str]]]:
    headers = ["arm", "model", "parameters", "val bits/char", "val PPL", f"best {name} [CI]", "entropy",
               "Δ vs first of method", "first's CI half-width"]
    body = []
    for r in rows:
        bits = r.get("val_bits_per_char")
        params = r.get("n_params")
        body.append([r["arm"], f"{r['model']} [{r.get('key') or '—'}]", f"{params:,}" if params else "—",
                     fmt_number(bits), fmt_number(2.0 ** bits if bits is not None else None),
                     fmt_quality(r.get("value"), r.get("lo"), r.get("hi")) if "value" in r else "—",
                     fmt_number(r.get("entropy")), fmt_number(r.get("delta")), fmt_number(r.get("first_half_width"))])
    return headers, body


def drafts_table(rows: list[dict[str, Any]], name: str) -> tuple[list[str], list[list[str]]]:
    headers = ["arm", "seeds", "drafts from", "trial", f"draft {name}", f"refined {name}", "refined / draft [paired 95%]",
               "better", "draft entropy", "refined entropy", "in band"]
    body = []
    for r in rows:
        ci = r.get("ratio_ci")
        ratio = fmt_quality(r["ratio"], *ci) if ci else fmt_number(r["ratio"])
        body.append([r["arm"], r["seeds"], r["drafter_arm"], str(r["trial"]), fmt_number(r["draft"]), fmt_number(r["refined"]),
                     ratio, "yes" if r["better"] else "no", fmt_number(r["draft_entropy"]),
                     fmt_number(r["entropy"]), "yes" if r["in_band"] else "no"])
    return headers, body


def matched_table(by_axis: dict[str, Any], arms: list[str]) -> tuple[list[str], list[list[str]]]:
    bases = list(next(iter(by_axis.values()), {}))
    headers = ["arm"] + [f"vs {b} ({AXIS_SHORT[a]})" for b in bases for a in SPEEDUP_AXES]
    body = []
    for arm in arms:
        cells = [by_axis[a].get(b, {}).get(arm, {}).get("display", "baseline" if arm == b else "—")
                 for b in bases for a in SPEEDUP_AXES]
        body.append([arm, *cells])
    return headers, body


def write_text_tables(ctx: Context) -> list[Path]:
    """substrate / drafts / matched_entropy tables (.md and .tex) where the run has their
    arms; their content goes into the summary under the same names."""
    summary, metric, trials = ctx.summary, ctx.metric, ctx.trials
    name = metric_text(summary)
    band = entropy_band(trials, float(ctx.options.get("entropy_band", ENTROPY_BAND)))
    summary["entropy_band"] = band
    files: list = []
    substrate = substrate_rows(trials, metric)
    summary["substrate"] = strict(substrate)
    if any(r["arm"] != "evaluator" for r in substrate):
        files += write_table(ctx.out, "substrate", *substrate_table(substrate, name),
                             caption=f"Text substrate: the baselines' models beside the evaluator ({name})",
                             note="val bits/char: exact for autoregressive models, an ELBO (upper bound) for MDLM. "
                                  "Δ: best value minus that of the method's first arm.")
    drafts = drafts_vs_refined(trials, metric, band)
    summary["drafts_vs_refined"] = strict(drafts)
    if drafts:
        files += write_table(ctx.out, "drafts", *drafts_table(drafts, name),
                             caption=f"Refined against their own drafts ({name}, same drafts)",
                             note=f"better: the paired bootstrap's {PAIRED_CI:.0%} interval of refined / draft lies "
                                  "below 1." + (_band_text(band) if band else ""))
    if band:
        matched = matched_entropy_speedups(trials, metric, band)
        summary["matched_entropy"] = strict(matched)
        if any(matched[a] for a in matched):
            files += write_table(ctx.out, "matched_entropy", *matched_table(matched, arm_order(trials)),
                                 caption=f"Speed-up at iso-{name}, every point's entropy in the held-out band",
                                 note=_band_text(band).strip())
    return files


def _band_text(band: dict[str, float]) -> str:
    return (f" Held-out entropy band: {band['floor']:.3f} ± {band['tolerance']:g} nats "
            f"([{band['lo']:.3f}, {band['hi']:.3f}]).")


def text_notes(summary: dict[str, Any]) -> list[str]:
    """Terminal lines: the band, and each WS-DFM arm against its own drafts."""
    band, notes = summary.get("entropy_band"), []
    if band:
        notes.append(_band_text(band).strip())
    for r in summary.get("drafts_vs_refined") or []:
        ci = r.get("ratio_ci")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        notes.append(f"{r['arm']} ({r['seeds']} seeds): refined / draft {r['ratio']:.3f}{interval} vs {r['drafter_arm']} "
                     f"({'better' if r['better'] else 'not better'}; entropy {r['entropy']:.3f}"
                     f"{', in band' if r['in_band'] else ', outside the band'})")
    return notes
