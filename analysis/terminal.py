"""The short plain-text table printed after a sweep (from summary.json's content)."""

from __future__ import annotations

from typing import Any

from analysis.cost_axes import SPEEDUP_AXES
from analysis.labels import metric_text, short_label, speedup_note
from analysis.tables import fmt_number
from analysis.tracks import renderer_for
from analysis.verdicts import judged


def format_summary_table(summary: dict[str, Any]) -> str:
    """A short plain-text table for the terminal: per arm its best quality, the cost it needs
    to reach the primary baseline's target, and its speed-up there in NFE and wall-clock
    (plus the track's extra metrics at the best point, e.g. text entropy)."""
    renderer = renderer_for(summary.get("track"))
    primary, metric = summary["baseline"], metric_text(summary)
    extra = renderer.speedup_columns(summary)
    info = summary.get("metric_info") or {}
    confirmed = summary.get("confirmed") or {}
    by_axis = confirmed.get("speedup_by_axis") or summary["speedup_by_axis"]  # the confirmed ones lead
    chosen = (by_axis.get(summary["cost_axis"]) or summary["speedup_at_iso_quality"]).get(primary, {})
    where = ", confirmed" if confirmed else ""
    headers = [
        "arm",
        f"best {metric}",
        *(f"{short_label(m, info)} at best" for m in extra),
        f"{summary['cost_axis']} at target",
        f"speed-up NFE{where}",
        f"speed-up FLOPs{where}",
        f"speed-up wall-clock{where}",
    ]
    rows = []
    for arm, best in summary["best_quality"].items():
        result = chosen.get(arm)
        if arm == primary:
            any_result = next(iter(chosen.values()), {})
            cost, ups = any_result.get("baseline_cost"), ["baseline"] * len(SPEEDUP_AXES)
        else:
            cost = result.get("method_cost") if result else None
            ups = [judged(by_axis.get(a, {}).get(primary, {}).get(arm), "not confirmed" if confirmed else "—")
                   for a in SPEEDUP_AXES]
        best = best or {}
        at_best = [fmt_number((best.get("diversity") or {}).get(m)) for m in extra]
        rows.append([arm, fmt_number(best.get("value")), *at_best, fmt_number(cost), *ups])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, ["-" * w for w in widths], *rows]
    ]
    title = f"{summary.get('study')}: {metric}, speed-up vs {primary}"
    notes = [speedup_note(summary, confirmed=True), renderer.table_note(summary), *renderer.notes(summary)]
    return "\n".join([title, *lines, *(n for n in notes if n)])
