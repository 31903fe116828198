"""Diagnostics: figures of what a method's models do, beside the fronts (the scheduling
family's step importance). `wsbench sweep` writes each as RUN_DIR/diagnostics/<method>-<id>.json
(sweeps.diagnostics); this draws every one as `diagnostic_<name>[_<id>]`.png/.pdf, one panel
per entry of "panels", each series a line with its band where it has "lo" and "hi".

The format: {"name", "title", "x": {"label", "values"}, "panels": [{"ylabel", "series":
[{"label", "y", "lo"?, "hi"?}]}], "models": {role: key}, "arms": [...], "note"?}.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_diagnostics(run_dir: Path) -> list[tuple[str, dict]]:
    """[(file stem, diagnostic)] of a run folder, in name order; unreadable files are skipped."""
    folder = Path(run_dir) / "diagnostics"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append((path.stem, json.loads(path.read_text())))
        except json.JSONDecodeError:
            continue
    return out


def plot_diagnostics(run_dir: Path, out: Path) -> list[Path]:
    """Every diagnostic of the run folder as a figure in `out`; the files written."""
    from analysis.figures import new_figure, save_figure

    found = read_diagnostics(run_dir)
    files: list[Path] = []
    names = [d.get("name", stem) for stem, d in found]
    for stem, diag in found:
        panels = diag.get("panels") or []
        if not panels:
            continue
        x = diag["x"]["values"]
        fig = new_figure(4.2 * len(panels), 3.4)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=True):
            for series in panel["series"]:
                (line,) = ax.plot(x, series["y"], marker=".", lw=1.4, label=series["label"])
                if "lo" in series and "hi" in series:
                    ax.fill_between(x, series["lo"], series["hi"], color=line.get_color(), alpha=0.2, lw=0)
            ax.set_xlabel(diag["x"]["label"])
            ax.set_ylabel(panel["ylabel"])
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        models = ", ".join(f"{role} {key}" for role, key in (diag.get("models") or {}).items())
        fig.suptitle(f"{diag.get('title', stem)}\n{models}", fontsize=8)
        name = diag.get("name", stem)
        suffix = "" if names.count(name) == 1 else "_" + stem.rsplit("-", 1)[-1]
        files += save_figure(fig, out / f"diagnostic_{name}{suffix}")
    return files
