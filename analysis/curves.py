"""Learning curves: every model a study trained, from the CSV its training logged.

`wsbench sweep` copies each model's curve from the model cache into RUN_DIR/curves/
(<key>.csv, with index.json naming its role and arms); closed-form fits (GMM, PPCA,
n-gram) have none. One panel per model, every logged loss column as a line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd


def read_curves(run_dir: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    """{model key: (index entry {role, arms}, curve with a `step` column)} of a run folder."""
    folder = Path(run_dir) / "curves"
    index_path = folder / "index.json"
    if not index_path.exists():
        return {}
    index = json.loads(index_path.read_text())
    out = {}
    for key, entry in sorted(index.items(), key=lambda kv: (kv[1].get("role", ""), kv[0])):
        path = folder / f"{key}.csv"
        if path.exists():
            curve = pd.read_csv(path)
            if len(curve) and "step" in curve:
                out[key] = (entry, curve)
    return out


def plot_learning_curves(run_dir: Path, stem: Path) -> list[Path]:
    """`stem`.png/.pdf: one panel per trained model (loss against step; a log axis where a
    loss spans more than 10x). No curves: no figure."""
    from analysis.figures import new_figure, save_figure

    curves = read_curves(run_dir)
    if not curves:
        return []
    cols = min(3, len(curves))
    rows = math.ceil(len(curves) / cols)
    fig = new_figure(4.2 * cols, 3.0 * rows)
    for i, (key, (entry, curve)) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        losses = [c for c in curve.columns if c != "step"]
        for column in losses:
            values = curve[["step", column]].dropna()
            ax.plot(values["step"], values[column], lw=1.0, label=column)
        positive = curve[losses].to_numpy().ravel()
        positive = positive[(positive == positive) & (positive > 0)]
        if len(positive) and positive.max() > 10 * positive.min():
            ax.set_yscale("log")
        arms = ", ".join(entry.get("arms", [])[:3]) + (" ..." if len(entry.get("arms", [])) > 3 else "")
        ax.set_title(f"{entry.get('role', '?')} {key.split('-')[-1][:8]}\n{arms}", fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(losses) > 1:
            ax.legend(fontsize=6)
    return save_figure(fig, stem)
