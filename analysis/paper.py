"""Paper figures from several run folders (`wsbench figures RUN [RUN ...] --out DIR`).

`fronts.pdf/.png`: one panel per study, side by side, every arm's front on one cost axis
(FLOPs per sample by default: the one axis on which masked, autoregressive and warm-start
text samplers, images and points compare); a fixed colour and marker per method family in
every panel (analysis.style), arms of one family told apart by line style; one legend for
all panels outside the axes; a log axis wherever a panel's values span more than 10x. Sized
for a two-column paper (7 in wide). `fronts.tex/.md`: a booktabs table, per study and arm,
of the best quality with its CI, the cost there and the iso-quality speed-up against the
study's baseline on the same axis. Image runs add `samples_<study>.pdf/.png` (analysis.paper_samples).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.cost_axes import COST_AXES, COST_AXIS_LABELS
from analysis.figures import log_scale_wanted, new_figure, save_figure
from analysis.fronts import arm_fronts
from analysis.labels import short_label
from analysis.paper_samples import samples_figure
from analysis.study import Study, load_study
from analysis.style import LINESTYLES, family_styles
from analysis.tables import fmt_number, fmt_quality, latex_escape, markdown_table
from analysis.trials import arm_order, complete_trials

WIDTH_IN = 7.0  # a two-column paper's text width
PANEL_HEIGHT_IN = 2.4
MAX_COLUMNS = 3


def write_figures(run_dirs: list[str | Path], out: str | Path, cost_axis: str = "flops") -> list[Path]:
    """Write the paper figures and table of ``run_dirs`` into ``out``; returns the files.
    A bad cost axis or a folder without trials is a ValueError/FileNotFoundError (one line)."""
    if cost_axis not in COST_AXES:
        raise ValueError(f"--cost-axis={cost_axis!r} is not allowed: one of {', '.join(COST_AXES)}")
    if not run_dirs:
        raise ValueError("figures takes at least one RUN_DIR")
    studies = [load_study(r, cost_axis) for r in run_dirs]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = save_figure(fronts_figure(studies, cost_axis), out / "fronts")
    files += write_paper_table(studies, cost_axis, out / "fronts")
    for study in studies:
        fig = samples_figure(study)
        if fig is not None:
            files += save_figure(fig, out / f"samples_{study.name}")
    return files


def fronts_figure(studies: list[Study], cost_axis: str):  # noqa: ANN201
    """The side-by-side fronts figure (a matplotlib Figure; legend outside every axes)."""
    columns = min(MAX_COLUMNS, len(studies))
    rows = -(-len(studies) // columns)
    families = [f for s in studies for f in s.families().values()]
    styles = family_styles(families)
    fig = new_figure(WIDTH_IN, PANEL_HEIGHT_IN * rows + 0.25 + 0.12 * len(set(families)))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    from matplotlib.lines import Line2D

    # the families first (colour and marker), then each arm (its family's style, its line style)
    handles: dict[str, Any] = {family: Line2D([], [], color=c, marker=m, ls="none", ms=5)
                               for family, (c, m) in styles.items()}
    for ax, study in zip(axes, studies, strict=False):
        for label, handle in _panel(ax, study, cost_axis, styles).items():
            handles.setdefault(label, handle)
    for ax in axes[len(studies):]:
        ax.set_visible(False)
    widest = max((len(label) for label in handles), default=1)  # ~0.045 in per character at 6.5 pt
    columns = max(1, min(len(handles), int(WIDTH_IN // (0.045 * widest + 0.45))))
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=columns, fontsize=6.5,
               frameon=False)
    return fig


def _panel(ax, study: Study, cost_axis: str, styles: dict) -> dict[str, Any]:  # noqa: ANN001
    """One study's fronts on ``ax``; returns {legend label: handle} of what it drew."""
    metric, trials = study.metric, study.trials
    fronts = arm_fronts(trials, metric, cost_axis)
    done = complete_trials(trials)
    families = study.families()
    handles, drawn, rank = {}, [], {}
    for arm in arm_order(trials):
        family = families[arm]
        color, marker = styles[family]
        style = LINESTYLES[rank.setdefault(family, {}).setdefault(arm, len(rank[family])) % len(LINESTYLES)]
        front = fronts.get(arm)
        if front is None or front.empty:
            continue
        label = arm  # the family is its colour and marker
        positive = front.loc[front[cost_axis] > 0]
        at_zero = front.loc[front[cost_axis] <= 0, f"q.{metric}"]
        if len(positive):
            (line,) = ax.plot(positive[cost_axis], positive[f"q.{metric}"], ls=style, marker=marker, color=color,
                              lw=1.4, ms=4, label=label, gid=family)
            drawn += positive[f"q.{metric}"].tolist()
            handles[label] = line
        if len(at_zero) and not len(positive):  # free on this axis (n-gram lookups): a level line
            handles[label] = ax.axhline(at_zero.min(), ls=(0, (1, 1)), color=color, lw=1.2, label=label, gid=family)
            drawn.append(float(at_zero.min()))
    floor = done[f"floor.{metric}"].median() if f"floor.{metric}" in done else None
    if floor is not None and np.isfinite(floor):
        ax.axhline(floor, color="0.5", lw=0.8)
        drawn.append(float(floor))
        handles.setdefault("reference (real data)", ax.axhspan(0, floor, color="0.5", alpha=0.12, lw=0))
    if log_scale_wanted(np.array(drawn)):
        ax.set_yscale("log")
        ax.set_ylim(min(drawn) / 1.4, max(drawn) * 1.4)  # the floor band reaches 0: not the limit
    elif drawn:
        low, high = min(drawn), max(drawn)
        pad = 0.08 * (high - low or abs(high) or 1.0)
        ax.set_ylim(low - pad, high + pad)  # zoomed to the values, not from 0
    costs = done[cost_axis].to_numpy(dtype=float)
    if log_scale_wanted(costs[costs > 0]):
        ax.set_xscale("log")
    ax.set_title(f"{study.name} ({study.summary.get('track')})", fontsize=8)
    ax.set_ylabel(f"{short_label(metric, study.summary.get('metric_info') or {})} (lower is better)", fontsize=7)
    ax.set_xlabel(COST_AXIS_LABELS.get(cost_axis, cost_axis), fontsize=7)
    ax.tick_params(which="both", labelsize=6)
    return handles


def paper_table_rows(studies: list[Study], cost_axis: str) -> list[tuple[str, list[list[str]]]]:
    """[(study heading, rows)]: per arm its family, best quality [CI], cost at that point and
    speed-up at iso-quality vs the study's baseline on ``cost_axis``."""
    out = []
    for study in studies:
        s = study.summary
        primary = s.get("baseline")
        speed = (s.get("speedup_by_axis") or {}).get(cost_axis, {}).get(primary, {})
        families = study.families()
        cost_of = _cost_at_best(study, cost_axis)
        rows = []
        for arm, best in (s.get("best_quality") or {}).items():
            if not best:  # every trial of the arm failed
                rows.append([arm, families.get(arm, "—"), "failed", "—", "—"])
                continue
            up = "baseline" if arm == primary else (speed.get(arm) or {}).get("display", "—")
            rows.append([arm, families.get(arm, "—"), fmt_quality(best.get("value"), best.get("lo"), best.get("hi")),
                         fmt_number(cost_of.get(arm)), up])
        out.append((f"{study.name}: {s.get('metric_label')}", rows))
    return out


def _cost_at_best(study: Study, cost_axis: str) -> dict[str, float]:
    done = complete_trials(study.trials)
    out = {}
    for arm, best in (study.summary.get("best_quality") or {}).items():
        if best:
            rows = done.loc[(done["arm"] == arm) & (done["trial"] == best["trial"]) & ~done["confirm"]]
            out[arm] = float(rows[cost_axis].iloc[-1]) if len(rows) else None
    return out


def write_paper_table(studies: list[Study], cost_axis: str, stem: Path) -> list[Path]:
    """``stem.tex`` (booktabs, one block per study under a \\midrule) and ``stem.md``."""
    axis = COST_AXIS_LABELS.get(cost_axis, cost_axis)
    headers = ["arm", "family", "best [95% CI]", f"{axis} at best", f"speed-up ({cost_axis})"]
    blocks = paper_table_rows(studies, cost_axis)
    tex = [r"\begin{table*}[t]", r"\centering", r"\small",
           rf"\caption{{Best quality per arm and iso-quality speed-up against each study's baseline ({latex_escape(axis)}).}}",
           r"\begin{tabular}{llrrr}", r"\toprule", " & ".join(latex_escape(h) for h in headers) + r" \\"]
    md = []
    for heading, rows in blocks:
        tex += [r"\midrule", rf"\multicolumn{{{len(headers)}}}{{l}}{{\textit{{{latex_escape(heading)}}}}} \\"]
        tex += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
        md += [f"**{heading}**", "", markdown_table(headers, rows)]
    tex += [r"\bottomrule", r"\end{tabular}", r"\end{table*}"]
    paths = [stem.with_suffix(".tex"), stem.with_suffix(".md")]
    paths[0].write_text("\n".join(tex) + "\n", encoding="utf-8")
    paths[1].write_text("\n".join(md), encoding="utf-8")
    return paths
