"""How metrics are named: labels from the track's declaration (``metric_info``), and the feature
net (FID/KID) or evaluator LM (gen PPL) a number was computed with, named in every label and
in a note under every table, so no report shows a bare "FID" that cannot be compared."""

from __future__ import annotations

import math
from typing import Any

from analysis.tables import fmt_number

# A metric computed with a trained net names it in its label (Inception FID and
# digits-classifier FID are different numbers): the track declares which record field holds
# the net (metric_info[m]["evaluator"]); these are the fields reports know how to name.
EVALUATOR_FIELDS = {"features": ("feature net", " features"), "text_eval": ("evaluator LM", "")}
DIVERSITY_NOTE = (
    "Entropy = mean per-sample unigram entropy (nats); entropy and distinct-n: higher = more "
    "diverse. Compare them with held-out text (the reference floor): well below it = "
    "repetitive text, which can buy a low gen PPL; well above it = noise-like text."
)


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


def short_label(metric: str, info: dict[str, dict[str, Any]]) -> str:
    """The label the track declared for ``metric`` (``metric_info``), else the key itself."""
    return str((info.get(metric) or {}).get("label") or metric)


def metric_label(
    metric: str,
    info: dict[str, dict[str, Any]],
    features: list[dict[str, Any]] = (),
    evaluators: list[dict[str, Any]] = (),
) -> str:
    """The display label of ``metric``: its declared label, e.g. "sliced W2"; a feature metric
    names its feature net, "FID (digits-classifier features)", gen PPL its evaluator LM,
    "gen PPL (shakespeare-char-transformer)"; a mix of nets is flagged."""
    base = short_label(metric, info)
    field = evaluator_of(metric, info)
    if field is None:
        return base
    kind, suffix = EVALUATOR_FIELDS[field]
    return named_label(base, list(features if field == "features" else evaluators), kind=kind, suffix=suffix)


def evaluator_of(metric: str, info: dict[str, dict[str, Any]]) -> str | None:
    """The record field naming the net ``metric`` was computed with, None for a plain metric."""
    field = (info.get(metric) or {}).get("evaluator")
    return field if field in EVALUATOR_FIELDS else None


def metric_text(summary: dict[str, Any]) -> str:
    """How tables name the metric: its key for plain metrics (``sw2``), the full label for
    feature and evaluator-LM metrics, so no table says a bare "fid" or "gen_ppl"."""
    metric = summary["metric"]
    return summary["metric_label"] if evaluator_of(metric, summary["metric_info"]) else metric


def _n_samples(summary: dict[str, Any]) -> str:
    return ", ".join(str(n) for n in summary.get("n_samples") or []) or "—"


def _net_text(net: dict[str, Any]) -> str:
    parts = [
        f"test accuracy {fmt_number(net.get('test_accuracy'))}",
        f"weights {net.get('weights_hash') or '—'}",
    ]
    if net.get("feature_dim") is not None:
        parts.append(f"{net['feature_dim']}-d features")
    if net.get("n_reference") is not None:
        parts.append(f"{net['n_reference']} reference samples")
    if net.get("key"):
        parts.append(f"key {net['key']}")
    return f"{net.get('name') or 'unnamed'} ({', '.join(parts)})"


def features_note(summary: dict[str, Any]) -> str | None:
    """One line naming the feature net behind FID/KID (name, test accuracy, weights hash), or
    a warning listing every net and its arms when the trials mix several; None without one."""
    nets = summary.get("features") or []
    if not nets:
        return None
    if len(nets) == 1:
        return f"Feature net for FID/KID: {_net_text(nets[0])}; samples per trial: {_n_samples(summary)}."
    listed = "; ".join(f"{_net_text(n)} used by {', '.join(n.get('arms') or [])}" for n in nets)
    return (
        f"WARNING: the trials mix {len(nets)} different feature nets, so their FID/KID values "
        f"are not comparable: {listed}; samples per trial: {_n_samples(summary)}."
    )


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
    if len(lms) == 1:
        return (
            f"Evaluator LM for gen PPL: {_lm_text(lms[0])}; samples per trial: "
            f"{_n_samples(summary)}. {DIVERSITY_NOTE}"
        )
    listed = "; ".join(f"{_lm_text(m)} used by {', '.join(m.get('arms') or [])}" for m in lms)
    return (
        f"WARNING: the trials mix {len(lms)} different evaluator LMs, so their gen PPL values "
        f"are not comparable: {listed}; samples per trial: {_n_samples(summary)}. {DIVERSITY_NOTE}"
    )


def table_note(summary: dict[str, Any]) -> str | None:
    """The line under every table: the feature net (images) or evaluator LM (text), if any."""
    return features_note(summary) or evaluator_note(summary)


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


def speedup_note(summary: dict[str, Any]) -> str:
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
    parts.append((summary.get("uncertainty") or {}).get("text") or "")
    load = summary.get("timing_load") or {}
    if load.get("n_under_load"):
        parts.append(
            f"Timed under load: {load['n_under_load']} trial(s) ({', '.join(load['arms'])}) were timed while up "
            f"to {load['max_others']} other wsbench process(es) computed on their host, so their wall-clock "
            "speed-ups are not comparable with timings taken alone (sweep.time_alone=true times each trial alone)."
        )
    return " ".join(p for p in parts if p)
