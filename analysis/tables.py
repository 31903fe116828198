"""Markdown and LaTeX tables of fronts and speed-ups, written by hand (no jinja2/tabulate).

The front table has one column per knob the arms declare (``knobs`` in the records: the
union over arms, first-seen order, "—" where an arm lacks one), so a new method's knob shows
without touching this file. Extra metric columns (e.g. text diversity) come from the track's
renderer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

# One pass over characters, so the braces added for [ and ] are not escaped again.
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "[": "{[}",
    "]": "{]}",
    "≥": r"$\geq$",
    "—": "---",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``_ [ ] & % #`` and friends) in plain text."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def _md_cell(text: str) -> str:
    return str(text).replace("|", r"\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; the first column is left-aligned, the rest right."""
    align = [":--"] + ["--:"] * (len(headers) - 1)
    lines = [
        "| " + " | ".join(_md_cell(h) for h in headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), every cell escaped."""
    spec = "l" + "r" * (len(headers) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def fmt_number(value: Any, digits: int = 4) -> str:
    """Compact number text; "—" for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value):.{digits}g}"


def fmt_quality(value: Any, lo: Any = None, hi: Any = None) -> str:
    """``0.031 [0.027, 0.036]``, or just the value when the CI is missing."""
    text = fmt_number(value)
    if fmt_number(lo) != "—" and fmt_number(hi) != "—":
        text += f" [{fmt_number(lo)}, {fmt_number(hi)}]"
    return text


def fmt_knob(value: Any) -> str:
    """A knob's value: numbers compactly, anything else as text; "—" when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return fmt_number(value)


def knob_header(knob: str) -> str:
    """``method.t0`` -> ``t0``; other namespaces keep their prefix (``drafter.order``)."""
    return knob.removeprefix("method.")


def knob_cells(row: pd.Series, knobs: list[str], declared: list[str]) -> list[str]:
    """One cell per knob column: the trial's ``params`` value where its arm declares the knob."""
    return [fmt_knob(row.get(f"param.{k}")) if k in declared else "—" for k in knobs]


def metric_cells(row: Any, metrics: list[str]) -> list[str]:
    """``value [lo, hi]`` of each metric of one trial (a flattened row)."""
    return [
        fmt_quality(row.get(f"q.{m}"), row.get(f"q.{m}_lo"), row.get(f"q.{m}_hi")) for m in metrics
    ]


def write_table(
    out: Path, name: str, headers, rows, caption: str, note: str | None = None
) -> list[Path]:
    """``name.md`` (``note`` as a line under the table) and ``name.tex`` (``note`` appended
    to the caption). Returns both paths."""
    paths = [out / f"{name}.md", out / f"{name}.tex"]
    markdown = markdown_table(headers, rows)
    if note:
        markdown += f"\n{note}\n"
        caption = f"{caption}. {note}"
    paths[0].write_text(markdown, encoding="utf-8")
    paths[1].write_text(latex_table(headers, rows, caption), encoding="utf-8")
    return paths
