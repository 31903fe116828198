"""Confirmations that decide (issue 31): after the search, the finalists (``analysis.confirmed``)
are re-evaluated on fresh seeds in looks, until every comparison with a baseline is decided or a
cap is reached.

The rule, as the report states it:
- look 1 evaluates every finalist at the search's n on fresh seeds (seed + CONFIRM_SEED_OFFSET);
- each later look extends the same per-sample seeds (sample i is the same sample at every n,
  ``core.seeding``) to the n that the power estimate of the open comparisons asks for (times
  ``MARGIN``; ``FALLBACK_GROWTH`` when none has an estimate), at least ``GROWTH[0]`` and at
  most ``GROWTH[1]`` times the previous look's n, cut to what the remaining budget allows, and
  only for the arms still open (all their finalists) and the baselines their undecided
  comparisons name (only the trials those targets came from: ``_narrowed``);
- every look's interval is taken at 1 - alpha / L (``sweep.confirm_looks`` = L): Bonferroni;
- an arm stops when its verdicts against every baseline, on every speed-up axis, at the strict
  target and at the small-budget one (each baseline's best within SMALL_BUDGET NFE), are decided
  (a comparison without an interval, e.g. no baseline trial within the small budget, waits for
  nothing); an arm whose evaluation fails stops there;
- the looks stop at L, at the track's largest n, or when the remaining budget allows less than
  ``GROWTH[0]`` times the previous n: a look's time is predicted from the same finalists'
  previous look, scaled by n, times ``PREDICT_MARGIN``, and all looks together stay within
  ``sweep.confirm_budget`` times the experiment's time (search trials plus the recorded training
  time of the models they used). Look 1 always runs (it is the confirmation of each arm's best).
One rule per run folder: a re-run under other ``sweep.confirm_*`` settings is refused.
Every look's evaluation is its own record (``confirm: true``, ``look``, ``rule``); none is
discarded, and a re-run recomputes none (a record is found by its config hash).
"""

from __future__ import annotations

import math
from typing import Any

from analysis.confirmed import (
    SMALL_BUDGET,
    confirmation_rows,
    finalists,
    look_ci,
    look_speedups,
    merge_looks,
    open_arms,
)
from analysis.fronts import baseline_arms
from analysis.intervals import SPEEDUP_CI
from analysis.load import load_trials
from analysis.picks import best_by_arm
from analysis.summary import DEFAULT_TOLERANCE
from analysis.verdicts import UNDECIDED
from sweeps.errors import ConfigError
from sweeps.runner import confirm_n

ALPHA = round(1 - SPEEDUP_CI, 10)  # the error rate the looks split (Bonferroni)

GROWTH = (2, 16)  # a later look's n over the previous look's: at least, at most
MARGIN = 1.5  # the power estimate is noisy: ask for this much more than it says
FALLBACK_GROWTH = 4  # when no open comparison has a power estimate (a mean difference of 0)
PREDICT_MARGIN = 1.5  # a look's predicted seconds: the previous look's, times its growth, times this


def experiment_seconds(records: list[dict]) -> float:
    """The search's time: its trials' seconds plus each model's training seconds, once per model
    (as recorded when it was trained, so a warm cache gives the same budget as a cold one)."""
    search = sum(float(r.get("seconds") or 0) for r in records if not r.get("confirm"))
    trained: dict[str, float] = {}
    for r in records:
        for fit in (r.get("train") or {}).values():
            if isinstance(fit, dict) and fit.get("key"):
                trained[fit["key"]] = float(fit.get("seconds") or 0)
    return search + sum(trained.values())


def _picked(records: list[dict], arm: str, trial: Any) -> dict:
    """The search record of ``arm``'s trial (the last, as analysis reads a repeated trial)."""
    return next(r for r in reversed(records) if r.get("arm") == arm and r.get("trial") == trial
                and not r.get("confirm"))


def _wanted_growth(results: list[dict[str, Any]], arms: list[str], n: int) -> int:
    """How many times ``n`` the open comparisons' power estimates ask for, within GROWTH."""
    asked = [((r.get("verdict") or {}).get("to_decide") or {}).get("n")
             for by_axis in results for per_base in by_axis.values() for per_arm in per_base.values()
             for arm, r in per_arm.items() if arm in arms]
    asked = [a for a in asked if a]
    growth = max((a * MARGIN / n for a in asked), default=FALLBACK_GROWTH)
    return int(min(GROWTH[1], max(GROWTH[0], math.ceil(growth))))


def _narrowed(plan: dict[str, list], results: list[dict[str, Any]], open_: list[str],
              baselines: list[str]) -> dict[str, list]:
    """The finalists a later look needs: every finalist of each open arm (a cheaper trial that
    reached the target in some replicates may decide it), and of each baseline the trials its
    undecided comparisons' targets came from (a baseline none of them names is left out)."""
    need: dict[str, set] = {}
    for by_axis in results:
        for per_base in by_axis.values():
            for base, per_arm in per_base.items():
                for arm, r in per_arm.items():
                    if arm in open_ and (r.get("verdict") or {}).get("word") == UNDECIDED \
                            and r.get("baseline_trial") is not None:
                        need.setdefault(base, set()).add(r["baseline_trial"])
    keep = [a for a in plan if a in open_ or (a in baselines and (a in need or not need))]
    return {a: plan[a] if a in open_ else ([t for t in plan[a] if t in need.get(a, ())] or plan[a]) for a in keep}


def _check_rule(records: list[dict], rule: dict) -> None:
    """Refuse to add looks under another rule to a run folder's confirmations: their looks'
    error split and sample sizes would not be one sequential test."""
    before = next((r["rule"] for r in records if r.get("confirm") and isinstance(r.get("rule"), dict)), None)
    if before is not None and before != rule:
        changed = {k: (before.get(k), v) for k, v in rule.items() if before.get(k) != v}
        raise ConfigError("sweep.confirm_*", ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items()),
                          "the run folder's confirmations' settings (one sequential rule per run folder; "
                          "use another sweep.run_dir to confirm under new settings)")


def confirm_sequential(runner, log=print) -> list[dict]:  # noqa: ANN001
    """Run the looks (see the module's rule); returns every confirmation record written or found."""
    cfg, metric = runner.cfg, runner.metric
    records = runner.store.records()
    if not any(r.get("state") == "COMPLETE" and not r.get("confirm") for r in records):
        return []
    trials = load_trials(runner.run_dir)
    primary, baselines = baseline_arms(trials)
    plan = finalists(trials, metric, DEFAULT_TOLERANCE, SMALL_BUDGET)
    if primary is None or primary not in plan:  # nothing to compare with: each arm's best, once
        plan = {arm: [row["trial"]] for arm, row in best_by_arm(trials, metric).items()}
    looks = int(cfg.sweep.confirm_looks)
    rule = {"looks": looks, "alpha": ALPHA, "budget": float(cfg.sweep.confirm_budget),
            "growth": list(GROWTH), "margin": MARGIN, "n_boot": int(cfg.sweep.confirm_boot)}
    _check_rule(records, rule)
    arms = {arm.name: arm for arm in runner.arms}
    plan = {a: ts for a, ts in plan.items() if a in arms}  # `sweep.only`: the arms run now
    if not plan:
        return []
    budget_s = rule["budget"] * experiment_seconds(records)
    seconds: dict[tuple, float] = {}  # (arm, trial) -> its last look's seconds: the next look's predictor
    comparing = primary in plan  # else each arm's best once, nothing to decide
    open_ = [a for a in plan if a not in baselines] if comparing else []
    spent, growth, previous, done = 0.0, 1, 1, []
    n0 = confirm_n(cfg, arms[next(iter(plan))])
    ceiling = min((runner.evaluator.max_samples(arms[a].cfg) or math.inf) for a in plan)
    results: list[dict[str, Any]] = []
    merged: list[dict[str, Any]] = [{}, {}]  # per deciding target, each comparison as it stands
    for look in range(1, looks + 1):
        if look > 1:
            plan = _narrowed(plan, merged, open_, baselines)
        todo = list(plan)
        recorded = [int(r["n_samples"]) for r in records if r.get("confirm") and r.get("look") == look
                    and r.get("arm") in plan]
        if look > 1 and recorded:  # a resumed run repeats the look it recorded, whatever the timings now
            growth = max(recorded) // n0
        elif look > 1:
            # Time grows at least linearly in n (sorting, bootstrap gathers): PREDICT_MARGIN over that.
            predicted = sum(seconds.get((a, t), 0.0) for a in todo for t in plan[a]) / previous * PREDICT_MARGIN
            fits = (budget_s - spent) / predicted if predicted > 0 else math.inf
            growth = int(min(growth, fits, ceiling / n0))
            if growth < GROWTH[0] * previous:
                why = "the budget" if fits < GROWTH[0] * previous else "the track's largest n"
                log(f"confirmations: stop before look {look} of {looks} ({why}); still undecided: {', '.join(open_)}")
                break
        previous = growth
        out = []
        total, k = sum(len(plan[a]) for a in todo), 0
        for name in todo:
            for trial in plan[name]:
                k += 1
                rec = runner.confirm(arms[name], _picked(records, name, trial), look=look, growth=growth, rule=rule)
                value = (rec.get("quality") or {}).get(metric)
                log(f"confirmations: look {look}, {k}/{total}: [{name}] trial {trial} at n = {rec.get('n_samples')}: "
                    + (f"{metric}={value:.4g}" if isinstance(value, (int, float)) else str(rec.get("state")))
                    + f" ({float(rec.get('seconds') or 0):.0f} s)")
                spent += float(rec.get("seconds") or 0)  # a resumed run's earlier looks count too
                seconds[(name, trial)] = float(rec.get("seconds") or 0)
                out.append(rec)
        done += out
        n = int(out[0]["n_samples"]) if out else 0
        trials = load_trials(runner.run_dir)
        rows = confirmation_rows(trials)
        results = [look_speedups(trials, rows, metric, look, look_ci(looks), 0.0, cap) for cap in (None, SMALL_BUDGET)]
        if not comparing or not results[0]:
            log(f"confirmations: look {look} at n = {n}: no comparison with a baseline; stopping")
            break
        for into, by_axis in zip(merged, results, strict=True):
            merge_looks(into, by_axis)  # a comparison decided at an earlier look stays decided
        still = open_arms(merged, baselines)
        failed = [a for a in open_ if any(r["arm"] == a and r.get("state") != "COMPLETE" for r in out)]
        if failed:  # a failed evaluation is recorded as such; a larger n would not mend it
            log(f"confirmations: look {look}: {', '.join(failed)} failed; not confirmed further")
        decided = [a for a in open_ if a not in still and a not in failed]
        open_ = [a for a in open_ if a in still and a not in failed]
        log(f"confirmations: look {look} of {looks} at n = {n} ({len(out)} evaluation(s), "
            f"{spent:.0f} s of a {budget_s:.0f} s budget): decided {', '.join(decided) or 'none'}; "
            f"open {', '.join(open_) or 'none'}")
        if not open_:
            break
        growth = growth * _wanted_growth(merged, open_, n)
    return done
