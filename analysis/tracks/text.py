"""The text track (character-level text, discrete flow matching).

- Diversity beside perplexity: a sampler can lower gen PPL by repeating tokens, which
  ``entropy`` (mean per-sample unigram entropy, nats) and ``distinct_n`` reveal (both
  declared higher-is-better). The front table shows entropy and the smallest-n distinct-n
  with a reference-floor row (held-out text), the speed-up tables entropy at each arm's best
  point, and each front figure an entropy panel.
- ``samples.md`` is the sample view: per arm its best and cheapest trial as fenced text,
  drafts above the samples refined from them.

A text run saves its samples as JSON, ``{"samples": [str, ...], "drafts": [str, ...] | null}``,
and may keep ``reference.json`` = ``{"samples": [...]}`` (held-out text) in the run folder.
No matplotlib here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.labels import DIVERSITY_NOTE, short_label
from analysis.picks import arm_picks
from analysis.tables import fmt_knob, fmt_number, knob_header, metric_cells
from analysis.tracks.renderer import Context, Renderer, register
from analysis.tracks.text_tables import text_notes, write_text_tables
from analysis.trials import arm_order

_DISTINCT = re.compile(r"distinct_(\d+)")
N_TEXT_SAMPLES = 3  # samples shown per trial in samples.md
MAX_TEXT_CHARS = 2000  # longer samples are cut in samples.md
REFERENCE_FILE = "reference.json"


def table_diversity(metrics: list[str]) -> list[str]:
    """The front table's diversity columns: entropy and the smallest-n distinct-n."""
    distinct = sorted((m for m in metrics if _DISTINCT.fullmatch(m)), key=lambda m: int(m[9:]))
    return [m for m in metrics if m == "entropy"] + distinct[:1]


class TextRenderer(Renderer):
    track = "text"
    floor_label = "held-out text"
    floor_row = "reference floor (held-out text)"

    def front_columns(self, summary: dict[str, Any]) -> list[str]:
        return table_diversity(summary.get("diversity_metrics") or [])

    def speedup_columns(self, summary: dict[str, Any]) -> list[str]:
        return [m for m in summary.get("diversity_metrics") or [] if m == "entropy"]

    def front_panel(self, summary: dict[str, Any]) -> tuple[str, str, float | None] | None:
        if "entropy" not in (summary.get("diversity_metrics") or []):
            return None
        return ("entropy", "entropy (nats)", summary["reference_floor"].get("entropy"))

    def samples(self, ctx: Context) -> list[Path]:
        # Sample texts as Markdown; the scatter/image code never sees .json samples.
        return write_samples_md(ctx, ctx.out / "samples.md")

    def tables(self, ctx: Context) -> list[Path]:
        return write_text_tables(ctx)

    def table_note(self, summary: dict[str, Any]) -> str | None:
        # Gen PPL alone can be bought with repetitive text: say how diversity reads beside it.
        note = super().table_note(summary)
        return f"{note} {DIVERSITY_NOTE}" if note else None

    def notes(self, summary: dict[str, Any]) -> list[str]:
        notes = text_notes(summary)
        if "samples.md" in (summary.get("files") or []):
            notes.append("Sample texts: samples.md in the report folder.")
        return notes


register(TextRenderer())


def _read_json_texts(path: Path) -> tuple[list[str] | None, list[str] | None, str | None]:
    """(samples, drafts, problem) from a text run's JSON samples file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None, f"samples file missing: {path.name}"
    except (OSError, ValueError) as err:
        return None, None, f"samples file unreadable: {path.name} ({err.__class__.__name__})"
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        return None, None, f"samples file has no 'samples' list: {path.name}"
    drafts = data.get("drafts")
    return (
        [str(s) for s in data["samples"]],
        [str(d) for d in drafts] if isinstance(drafts, list) else None,
        None,
    )


def _fenced(text: str) -> str:
    """``text`` as a fenced block whose fence is longer than any backtick run inside it."""
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + f" … [cut at {MAX_TEXT_CHARS} characters]"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}text\n{body}{fence}"


def _values_line(row: pd.Series, metric: str, metrics: list[str], cost_axis: str, info) -> str:
    parts = [f"{knob_header(k)} {fmt_knob(row.get(f'param.{k}'))}" for k in row["knobs"]]
    if pd.notna(row.get("nfe")):
        parts.append(f"NFE {fmt_number(row['nfe'])}")
    if pd.notna(row.get("wallclock")):
        parts.append(f"wall-clock {fmt_number(row['wallclock'] * 1e3)} ms/sample")
    if cost_axis not in ("nfe", "wallclock") and pd.notna(row.get(cost_axis)):
        parts.append(f"{cost_axis} {fmt_number(row[cost_axis])}")
    cells = metric_cells(row, [metric, *metrics])
    parts += [f"{short_label(m, info)} {c}" for m, c in zip([metric, *metrics], cells, strict=True)]
    return " · ".join(parts)


def _trial_section(
    run_dir: Path, kind: str, row: pd.Series, metric: str, metrics: list[str], cost_axis: str, info
) -> list[str]:
    values = _values_line(row, metric, metrics, cost_axis, info)
    lines = [f"### {kind}: trial {row['trial']}", "", values]
    relpath = row.get("samples_path")
    if not isinstance(relpath, str) or not relpath.endswith(".json"):
        return [*lines, "", f"_no text samples saved ({relpath or 'no samples_path'})_", ""]
    samples, drafts, problem = _read_json_texts(run_dir / relpath)
    if problem:
        return [*lines, "", f"_{problem}_", ""]
    lines.append("")
    for i, sample in enumerate(samples[:N_TEXT_SAMPLES]):
        if drafts is not None and i < len(drafts):
            lines += [f"Sample {i + 1}, draft:", "", _fenced(drafts[i]), ""]
            lines += [f"Sample {i + 1}, refined:", "", _fenced(sample), ""]
        else:
            lines += [f"Sample {i + 1}:", "", _fenced(sample), ""]
    if not samples:
        lines += ["_no samples in the file_", ""]
    return lines


def _reference_section(
    run_dir: Path, metric: str, floors: dict[str, Any], metrics, info
) -> list[str]:
    path = run_dir / REFERENCE_FILE
    if not path.is_file():
        return []
    texts, _, problem = _read_json_texts(path)
    floor = ", ".join(
        f"{short_label(m, info)} {fmt_number(floors.get(m))}"
        for m in [metric, *metrics]
        if m in floors
    )
    lines = ["## Reference (held-out text)", ""]
    if floor:
        lines += [f"Reference floor (the same metrics on held-out text): {floor}", ""]
    if problem:
        return [*lines, f"_{problem}_", ""]
    for i, text in enumerate((texts or [])[:N_TEXT_SAMPLES]):
        lines += [f"Reference {i + 1}:", "", _fenced(text), ""]
    return lines


def write_samples_md(ctx: Context, path: Path) -> list[Path]:
    """``samples.md``: the reference texts (``reference.json``, if kept), then per arm its
    best-quality trial and its cheapest trial on the cost axis (``analysis.picks``; once when
    they are the same trial) with their knobs, costs, the metric and diversity, and their
    first ``N_TEXT_SAMPLES`` samples as fenced blocks, each draft above the sample refined
    from it. Returns ``[path]``."""
    summary, metric, cost_axis = ctx.summary, ctx.metric, ctx.cost_axis
    info, metrics = summary.get("metric_info") or {}, summary.get("diversity_metrics") or []
    study = summary.get("study")
    lines = [
        f"# Sample texts{': ' + str(study) if study else ''}",
        "",
        f"Per arm, its best trial on {ctx.label} (lower is better) and its cheapest trial on "
        f"{cost_axis} (once when they are the same trial): the first {N_TEXT_SAMPLES} samples "
        "of each; for warm-start arms each draft is shown above the sample refined from it. "
        + DIVERSITY_NOTE,
        "",
        *_reference_section(ctx.run_dir, metric, summary["reference_floor"], metrics, info),
    ]
    picks = arm_picks(ctx.trials, metric, cost_axis)
    name = short_label(metric, info)
    for arm in arm_order(ctx.trials):
        lines += [f"## {arm}", ""]
        if arm not in picks:
            lines += ["_no complete trial_", ""]
            continue
        for kind, row in picks[arm]:
            kind = kind.replace("best", f"best {name}").replace(
                "cheapest", f"cheapest ({cost_axis})"
            )
            lines += _trial_section(ctx.run_dir, kind, row, metric, metrics, cost_axis, info)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return [path]
