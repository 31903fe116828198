"""Markdown and LaTeX tables of fronts and speed-ups, written by hand (no jinja2/tabulate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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


def named_label(base: str, nets: list[dict], *, kind: str, suffix: str = "") -> str:
    """`base (name[ suffix])` naming the net(s) a metric was computed with, e.g. "FID
    (digits-classifier features)"; flags a mix of nets and says when none was recorded."""
    names = list(dict.fromkeys(str(n.get("name") or "unnamed") for n in nets))
    if not names:
        return f"{base} ({kind} not recorded)"
    text = f"{base} ({' / '.join(names)}{suffix}"
    if len(nets) > 1:
        text += f"; MIXED: {len(nets)} different {kind}s"
    return text + ")"
