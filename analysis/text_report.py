"""Text runs (character-level text, discrete flow matching): the parts of the report that only
text needs.

- gen PPL (perplexity of the generated text under an evaluator LM, lower is better) is
  always labelled with the evaluator's name, like FID with its feature net; trials that mix
  evaluator LMs are flagged.
- Diversity beside perplexity: a sampler can lower gen PPL by repeating tokens, which
  ``entropy`` (mean per-sample unigram entropy, nats) and ``distinct_n`` reveal (both higher =
  more diverse). Tables and summary.json give them at every front point and at each arm's
  best point, next to their values on held-out text (the reference floor).
- ``samples.md`` replaces the scatter/image samples figure: per arm its best and cheapest
  trial as fenced text, drafts above the samples refined from them.

A text run saves its samples as JSON, ``{"samples": [str, ...], "drafts": [str, ...] | null}``
(``samples_path`` ends in ``.json``), and may keep ``reference.json`` = ``{"samples": [...]}``
(held-out text) in the run folder. No torch, no matplotlib here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.load import arm_order, complete_trials, metrics_of
from analysis.pareto import best_and_cheapest
from analysis.tables import fmt_number, fmt_quality, named_label

TEXT_METRIC_LABELS = {
    "gen_ppl": "gen PPL",
    "gen_ppl_hub": "gen PPL (hub LM)",  # opt-in: a hub LM scores the decoded text as well
    "entropy": "entropy",
    "distinct_2": "distinct-2",
    "distinct_3": "distinct-3",
    "distinct_4": "distinct-4",
}
# Metrics computed with an evaluator LM: their label always names it.
EVALUATOR_METRICS = frozenset({"gen_ppl"})
# Diversity measures (higher = more diverse): ``entropy`` and any ``distinct_<n>``; shown
# beside the primary metric, never ranked on. summary.json carries all of them; the front
# table shows entropy and the smallest-n distinct-n, the speed-up tables entropy.
_DISTINCT = re.compile(r"distinct_(\d+)")
N_TEXT_SAMPLES = 3  # samples shown per trial in samples.md
MAX_TEXT_CHARS = 2000  # longer samples are cut in samples.md
REFERENCE_FILE = "reference.json"
DIVERSITY_NOTE = (
    "Entropy = mean per-sample unigram entropy (nats); entropy and distinct-n: higher = more "
    "diverse. Compare them with held-out text (the reference floor): well below it = "
    "repetitive text, which can buy a low gen PPL; well above it = noise-like text."
)


def _label(metric: str) -> str:
    found = _DISTINCT.fullmatch(metric)
    return TEXT_METRIC_LABELS.get(metric) or (f"distinct-{found[1]}" if found else metric)


def is_diversity(metric: str) -> bool:
    """``entropy`` and ``distinct_<n>``: higher = more diverse, reported beside gen PPL."""
    return metric == "entropy" or _DISTINCT.fullmatch(metric) is not None


def is_text_run(trials: pd.DataFrame) -> bool:
    """True when the trials are text trials: a ``gen_ppl`` primary metric, an evaluator LM
    recorded (``text_eval``), or samples saved as ``.json``."""
    if "primary_metric" in trials and (trials["primary_metric"] == "gen_ppl").any():
        return True
    if "text_eval" in trials and trials["text_eval"].map(lambda v: isinstance(v, dict)).any():
        return True
    paths = trials["samples_path"] if "samples_path" in trials else []
    return any(isinstance(p, str) and p.endswith(".json") for p in paths)


# --- labels and notes ----------------------------------------------------------------------


def evaluator_label(metric: str, evaluators: list[dict[str, Any]]) -> str:
    """The label "gen PPL (shakespeare-char-transformer)"; a warning inside the brackets
    when the trials mix evaluator LMs, "(evaluator LM not recorded)" when none is."""
    return named_label(_label(metric), evaluators, kind="evaluator LM")


def _lm_text(lm: dict[str, Any]) -> str:
    parts = [f"val PPL {fmt_number(lm.get('val_ppl'))}"]
    n_params = lm.get("n_params")
    if isinstance(n_params, int | float) and math.isfinite(n_params):
        scale, unit = (1e6, "M") if n_params >= 1e6 else (1e3, "k") if n_params >= 1e3 else (1, "")
        parts.append(f"{n_params / scale:.3g}{unit} parameters")
    parts.append(f"weights {lm.get('weights_hash') or '—'}")
    if lm.get("key"):
        parts.append(f"key {lm['key']}")
    return f"{lm.get('name') or 'unnamed'} ({', '.join(parts)})"


def evaluator_note(summary: dict[str, Any]) -> str | None:
    """One line naming the evaluator LM behind gen PPL (name, val PPL, size, weights hash) and
    what entropy/distinct-n mean, or a warning listing every LM and its arms when the trials
    mix several; None for runs without an evaluator LM."""
    lms = summary.get("text_eval") or []
    if not lms:
        return None
    n_samples = ", ".join(str(n) for n in summary.get("n_samples") or []) or "—"
    if len(lms) == 1:
        return (
            f"Evaluator LM for gen PPL: {_lm_text(lms[0])}; samples per trial: {n_samples}. "
            f"{DIVERSITY_NOTE}"
        )
    listed = "; ".join(f"{_lm_text(m)} used by {', '.join(m.get('arms') or [])}" for m in lms)
    return (
        f"WARNING: the trials mix {len(lms)} different evaluator LMs, so their gen PPL values "
        f"are not comparable: {listed}; samples per trial: {n_samples}. {DIVERSITY_NOTE}"
    )


# --- diversity beside the primary metric ---------------------------------------------------


def diversity_metrics(trials: pd.DataFrame, metric: str) -> list[str]:
    """The diversity measures the trials carry, entropy first then distinct-n by n, ``metric``
    left out; empty for toy and image runs."""
    found = [m for m in metrics_of(trials) if is_diversity(m) and m != metric]
    return sorted(found, key=lambda m: -1 if m == "entropy" else int(_DISTINCT.fullmatch(m)[1]))


def _table_diversity(metrics: list[str]) -> list[str]:
    """The front table's diversity columns: entropy and the smallest-n distinct-n."""
    distinct = [m for m in metrics if m != "entropy"]
    return [m for m in metrics if m == "entropy"] + distinct[:1]


def _speedup_diversity(metrics: list[str]) -> list[str]:
    return [m for m in metrics if m == "entropy"]


def _value(row: pd.Series, column: str) -> Any:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def diversity_of(row: pd.Series, metrics: list[str]) -> dict[str, Any]:
    """``{"entropy": v, "entropy_ci": [lo, hi], ...}`` of one trial (the record's format)."""
    out: dict[str, Any] = {}
    for m in metrics:
        out[m] = _value(row, f"q.{m}")
        out[f"{m}_ci"] = [_value(row, f"q.{m}_lo"), _value(row, f"q.{m}_hi")]
    return out


def front_diversity(
    fronts: dict[str, pd.DataFrame], metrics: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per arm, one entry per front point, in the order of summary.json's ``front`` (cheapest
    first): ``{"trial": n, "entropy": v, "entropy_ci": [lo, hi], "distinct_2": ..., ...}``."""
    if not metrics:
        return {}
    return {
        arm: [{"trial": row["trial"], **diversity_of(row, metrics)} for _, row in front.iterrows()]
        for arm, front in fronts.items()
    }


def _diversity_cell(values: dict[str, Any], m: str) -> str:
    lo, hi = values.get(f"{m}_ci") or (None, None)
    return fmt_quality(values.get(m), lo, hi)


def front_headers(metrics: list[str]) -> list[str]:
    return [f"{_label(m)} [CI]" for m in _table_diversity(metrics)]


def front_cells(row: pd.Series, metrics: list[str]) -> list[str]:
    values = diversity_of(row, metrics)
    return [_diversity_cell(values, m) for m in _table_diversity(metrics)]


def floor_row(metric: str, metrics: list[str], floors: dict[str, Any], n_columns: int) -> list[str]:
    """The front table's first row: the reference floor (held-out text) of the primary metric
    and of every diversity column, "—" elsewhere."""
    row = ["reference floor (held-out text)", "—", fmt_number(floors.get(metric))]
    row += [fmt_number(floors.get(m)) for m in _table_diversity(metrics)]
    return row + ["—"] * (n_columns - len(row))


def speedup_headers(metrics: list[str]) -> list[str]:
    shown = _speedup_diversity(metrics)
    return [h for m in shown for h in (f"{_label(m)} at best [CI]", f"floor {_label(m)}")]


def speedup_cells(best: dict[str, Any], floors: dict[str, Any], metrics: list[str]) -> list[str]:
    values = best.get("diversity") or {}
    shown = _speedup_diversity(metrics)
    return [c for m in shown for c in (_diversity_cell(values, m), fmt_number(floors.get(m)))]


# --- samples.md ----------------------------------------------------------------------------


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


def _values_line(row: pd.Series, metric: str, metrics: list[str], cost_axis: str) -> str:
    parts = []
    for key, name in (("t0", "t0"), ("steps", "steps"), ("nfe", "NFE")):
        if pd.notna(row.get(key)):
            parts.append(f"{name} {fmt_number(row[key])}")
    if pd.notna(row.get("wallclock")):
        parts.append(f"wall-clock {fmt_number(row['wallclock'] * 1e3)} ms/sample")
    if cost_axis not in ("nfe", "wallclock") and pd.notna(row.get(cost_axis)):
        parts.append(f"{cost_axis} {fmt_number(row[cost_axis])}")
    values = diversity_of(row, [metric, *metrics])
    parts += [f"{_label(m)} {_diversity_cell(values, m)}" for m in [metric, *metrics]]
    return " · ".join(parts)


def _trial_section(
    run_dir: Path, kind: str, row: pd.Series, metric: str, metrics: list[str], cost_axis: str
) -> list[str]:
    lines = [f"### {kind}: trial {row['trial']}", "", _values_line(row, metric, metrics, cost_axis)]
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


def _reference_section(run_dir: Path, metric: str, floors: dict[str, Any], metrics) -> list[str]:
    path = run_dir / REFERENCE_FILE
    if not path.is_file():
        return []
    texts, _, problem = _read_json_texts(path)
    floor = ", ".join(
        f"{_label(m)} {fmt_number(floors.get(m))}" for m in [metric, *metrics] if m in floors
    )
    lines = ["## Reference (held-out text)", ""]
    if floor:
        lines += [f"Reference floor (the same metrics on held-out text): {floor}", ""]
    if problem:
        return [*lines, f"_{problem}_", ""]
    for i, text in enumerate((texts or [])[:N_TEXT_SAMPLES]):
        lines += [f"Reference {i + 1}:", "", _fenced(text), ""]
    return lines


def write_samples_md(
    trials: pd.DataFrame,
    run_dir: Path,
    metric: str,
    cost_axis: str,
    path: Path,
    label: str,
    floors: dict[str, Any],
) -> list[Path]:
    """``samples.md``: the reference texts (``reference.json``, if kept), then per arm its
    best-quality trial and its cheapest trial on ``cost_axis`` (once when they are the same
    trial) with their knobs, costs, ``metric`` and diversity, and their first
    ``N_TEXT_SAMPLES`` samples as fenced blocks, each draft above the sample refined from it.
    Returns ``[path]``."""
    metrics = diversity_metrics(trials, metric)
    done = complete_trials(trials)
    done = done.loc[done[f"q.{metric}"].notna() & done[cost_axis].notna()]
    study = trials["study"].dropna()
    lines = [
        f"# Sample texts{': ' + str(study.iloc[0]) if len(study) else ''}",
        "",
        f"Per arm, its best trial on {label} (lower is better) and its cheapest trial on "
        f"{cost_axis} (once when they are the same trial): the first {N_TEXT_SAMPLES} samples "
        "of each; for warm-start arms each draft is shown above the sample refined from it. "
        + DIVERSITY_NOTE,
        "",
        *_reference_section(run_dir, metric, floors, metrics),
    ]
    for arm in arm_order(trials):
        lines += [f"## {arm}", ""]
        rows = done.loc[done["arm"] == arm]
        if rows.empty:
            lines += ["_no complete trial_", ""]
            continue
        best, cheapest = best_and_cheapest(rows, metric, cost_axis)
        picks = [(f"best {_label(metric)}", best), (f"cheapest ({cost_axis})", cheapest)]
        if best.name == cheapest.name:
            picks = [(f"best {_label(metric)} = cheapest ({cost_axis})", best)]
        for kind, row in picks:
            lines += _trial_section(run_dir, kind, row, metric, metrics, cost_axis)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    return [path]
