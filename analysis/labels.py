"""How metrics are named: labels from the track's declaration (``metric_info``), and the
evaluator model (a feature net for FID/KID, an evaluator LM for gen PPL) a number was computed
with, named in every label and in a note under every table, so no report shows a bare "FID"
that cannot be compared. A metric says it used the evaluator (``metric_info[m]["evaluator"]``);
the record's ``evaluator`` says which one and how to name it (``analysis.evaluators``)."""

from __future__ import annotations

from typing import Any

from analysis.evaluators import evaluator_text

DIVERSITY_NOTE = (
    "Entropy = mean per-sample unigram entropy (nats); entropy and distinct-n: higher = more "
    "diverse. Compare them with held-out text (the reference floor): well below it = "
    "repetitive text, which can buy a low gen PPL; well above it = noise-like text."
)


def named_label(base: str, evaluators: list[dict]) -> str:
    """`base (name[suffix])` naming the evaluator(s) a metric was computed with, e.g. "FID
    (digits-classifier features)"; flags a mix of evaluators and says when none was recorded."""
    names = list(dict.fromkeys(str(e.get("name") or "unnamed") for e in evaluators))
    if not names:
        return f"{base} (evaluator not recorded)"
    kind, suffix = _kind(evaluators), str(evaluators[0].get("suffix") or "")
    text = f"{base} ({' / '.join(names)}{suffix}"
    if len(evaluators) > 1:
        text += f"; MIXED: {len(evaluators)} different {kind}s"
    return text + ")"


def _kind(evaluators: list[dict]) -> str:
    """What the track calls its evaluator model ("feature net", "evaluator LM")."""
    return str(evaluators[0].get("label") or "evaluator") if evaluators else "evaluator"


def short_label(metric: str, info: dict[str, dict[str, Any]]) -> str:
    """The label the track declared for ``metric`` (``metric_info``), else the key itself."""
    return str((info.get(metric) or {}).get("label") or metric)


def uses_evaluator(metric: str, info: dict[str, dict[str, Any]]) -> bool:
    """Whether the track declared ``metric`` computed with its evaluator model."""
    return bool((info.get(metric) or {}).get("evaluator"))


def metric_label(metric: str, info: dict[str, dict[str, Any]], evaluators: list[dict[str, Any]] = ()) -> str:
    """The display label of ``metric``: its declared label, e.g. "sliced W2"; a metric computed
    with the evaluator names it, "FID (digits-classifier features)", "gen PPL
    (shakespeare-char-transformer)"; a mix of evaluators is flagged."""
    base = short_label(metric, info)
    return named_label(base, list(evaluators)) if uses_evaluator(metric, info) else base


def metric_text(summary: dict[str, Any]) -> str:
    """How tables name the metric: its key for plain metrics (``sw2``), the full label for
    metrics computed with an evaluator, so no table says a bare "fid" or "gen_ppl"."""
    metric = summary["metric"]
    return summary["metric_label"] if uses_evaluator(metric, summary["metric_info"]) else metric


def _n_samples(summary: dict[str, Any]) -> str:
    return ", ".join(str(n) for n in summary.get("n_samples") or []) or "—"


def evaluator_note(summary: dict[str, Any]) -> str | None:
    """One line naming the evaluator behind the metrics that declare it ("Feature net for
    FID/KID: digits-classifier (test accuracy ..., weights ...)"), or a warning listing every
    evaluator and its arms when the trials mix several; None for runs without an evaluator."""
    evaluators = summary.get("evaluators") or []
    if not evaluators:
        return None
    info = summary.get("metric_info") or {}
    metrics = "/".join(short_label(m, info) for m in info if uses_evaluator(m, info))
    kind, samples = _kind(evaluators), f"samples per trial: {_n_samples(summary)}."
    if len(evaluators) == 1:
        used_for = f" for {metrics}" if metrics else ""
        return f"{kind[:1].upper()}{kind[1:]}{used_for}: {evaluator_text(evaluators[0])}; {samples}"
    listed = "; ".join(f"{evaluator_text(e)} used by {', '.join(e.get('arms') or [])}" for e in evaluators)
    return (
        f"WARNING: the trials mix {len(evaluators)} different {kind}s, so their {metrics or 'metric'} values "
        f"are not comparable: {listed}; {samples}"
    )


def table_note(summary: dict[str, Any]) -> str | None:
    """The line under every table: the evaluator behind the metrics, if any (a track's
    renderer may add its own, ``Renderer.table_note``)."""
    return evaluator_note(summary)


def _n_boot(summary: dict[str, Any]) -> int:
    for per_base in (summary.get("speedup_at_iso_quality") or {}).values():
        for result in per_base.values():
            n = (result.get("interval") or {}).get("n_boot")
            if n:
                return int(n)
    return 0


def confirm_note(summary: dict[str, Any]) -> str:
    """Where each arm's best value comes from: its confirmation on fresh seeds, or the search."""
    best = [b for b in (summary.get("best_quality") or {}).values() if b]
    confirmed = [b for b in best if b.get("confirmed")]
    if not best:
        return ""
    if len(confirmed) == len(best):
        seeds = sorted({str(b["confirmed"]["seed"]) for b in confirmed})
        return (
            f"Best values: each arm's best setting re-evaluated on fresh seeds (seed {', '.join(seeds)}); "
            "the speed-up table's 'in search' column is the same setting's value in the sweep, where it was picked."
        )
    if confirmed:
        missing = [a for a, b in summary["best_quality"].items() if b and not b.get("confirmed")]
        return (
            "Best values: re-evaluated on fresh seeds except for "
            f"{', '.join(missing)} (their search values, picked among many, read optimistic)."
        )
    return "Best values: from the search, not re-evaluated on fresh seeds (sweep.confirm=false)."


def confirmation_rule(summary: dict[str, Any]) -> str:
    """The confirmations' stopping rule and where each arm stopped, in words ("" without looks)."""
    c = summary.get("confirmed") or {}
    if not c:
        return ""
    rule, looks = c["rule"], c["looks"]
    ns = ", ".join(f"{look['n_samples']:,}" for look in looks)
    text = (
        f"Confirmed speed-ups: the finalists (each arm's best setting and the settings its speed-ups "
        f"were read at, the baselines' best and best within {c.get('budget') or '—'} NFE) re-evaluated on "
        f"fresh seeds in {len(looks)} look(s) at "
        f"n = {ns}, each look's interval at {c['ci'] * 100:.1f}% (0.05 split over at most {rule['looks']} "
        f"looks: Bonferroni), over {rule['n_boot']} paired replicates; the target is the baseline's best "
        f"setting as measured there. Look 1 always runs; a later look extends the same per-sample seeds "
        f"to the n the open comparisons' power estimate asks for (x{rule['margin']:g}, "
        f"{rule['growth'][0]}-{rule['growth'][1]}x the previous n, cut to the remaining budget), for the "
        f"baselines and the open arms only; an arm stops when its verdicts against every baseline, strict "
        f"and at the small budget, are decided; the looks stop at {rule['looks']}, at the track's largest n, "
        f"or when the budget ({rule['budget']:g} of the search's time) allows less than "
        f"{rule['growth'][0]}x the previous n."
    )
    open_ = [f"{arm} (after look {s['look']}, {s['why']})" for arm, s in c["stopped"].items() if s["why"] != "decided"]
    if open_:
        text += f" Undecided at the cap: {', '.join(open_)}."
    return text


def speedup_note(summary: dict[str, Any], confirmed: bool = False) -> str:
    """The line under the speed-up tables: how a speed-up and its interval read, where the best
    values come from, and which speed-ups the sample count cannot resolve."""
    n_boot = _n_boot(summary)
    parts = [
        "Speed-up = the baseline's cost at its best quality (point estimate) / the method's "
        "cheapest cost reaching it, on measured points"
    ]
    if n_boot:
        parts[0] += (
            f"; in brackets its 95% interval over {n_boot} paired bootstrap replicates (in each, "
            "the target is the baseline's best in that replicate; 'never' = the method does not "
            "reach it there, 'drafter' = the drafter alone does, '≥' = reached at the grid's "
            "smallest budget)"
        )
    parts[0] += "."
    parts.append(confirm_note(summary))
    judged_by = (summary.get("confirmed") or summary) if confirmed else summary
    if judged_by is not summary:  # the table shows the confirmed speed-ups: say how they were made
        parts.append(confirmation_rule(summary))
    elif summary.get("confirmed"):
        parts.append("These are the search's speed-ups; the headline ones, confirmed on fresh seeds in looks "
                     "until decided, are in confirmed.md.")
    parts.append((judged_by.get("uncertainty") or {}).get("text") or "")
    load = summary.get("timing_load") or {}
    if load.get("n_under_load"):
        parts.append(
            f"Timed under load: {load['n_under_load']} trial(s) ({', '.join(load['arms'])}) were timed while up "
            f"to {load['max_others']} other wsbench process(es) computed on their host, so their wall-clock "
            "speed-ups are not comparable with timings taken alone (sweep.time_alone=true times each trial alone)."
        )
    return " ".join(p for p in parts if p)
