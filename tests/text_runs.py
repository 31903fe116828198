"""A text run for analysis tests: copies of the smoke_text sweep's real records with hand-set
values (see tests/test_analysis_text.py for the hand computation)."""

from __future__ import annotations

import json
from pathlib import Path

from analysis_runs import clone, copy_run, failed, of_arm, records, write_records

MASK, WS, DRAFT = "masked", "ws_dfm[ngram3]", "drafter_only[ngram3]"
FLOOR = {"gen_ppl": 4.9, "entropy": 3.3, "distinct_2": 0.5, "distinct_4": 0.8}


def ci(value, half):
    return [value - half, value + half]


def _texts(arm, trial, kind):
    return [f"{arm} t{trial} {kind} {i}: O Romeo, wherefore art thou" for i in range(8)]


def make_text_run(real: Path, dest: Path, *, reference: bool = True) -> Path:
    """Three arms from copies of the smoke records: the masked baseline (4 budgets, one
    dominated), the warm-start arm (t0 0.5 and 0.8; its saved texts carry drafts) and the
    drafter alone; plus one failed trial. Records also carry distinct_4, as a study asking
    for it would."""
    run = copy_run(real, dest)
    recs = records(run)
    mask, ws, draft = (of_arm(recs, arm)[0] for arm in (MASK, WS, DRAFT))

    def rec(template, trial, nfe, ppl, entropy, d2, *, t0=None):
        params = {"method.steps": max(nfe, 1)} if "method.steps" in template["knobs"] else {}
        if t0 is not None:
            params["method.t0"] = t0
        out = clone(
            template, trial=trial, params=params, n_samples=100, reference_floor=dict(FLOOR)
        )
        out["quality"] = {
            "gen_ppl": ppl, "gen_ppl_ci": ci(ppl, 0.5),
            "entropy": entropy, "entropy_ci": ci(entropy, 0.05),
            "distinct_2": d2, "distinct_2_ci": ci(d2, 0.01),
            "distinct_4": d2 + 0.25, "distinct_4_ci": ci(d2 + 0.25, 0.01),
        }  # fmt: skip
        out["metric_info"]["distinct_4"] = dict(
            out["metric_info"]["distinct_2"], label="distinct-4"
        )
        out.pop("quality_boot")  # hand-set values: no replicates (as with eval.n_boot = 0)
        # FLOPs like the ledger's: the denoiser's per evaluation times NFE (n-gram drafts: 0).
        out["cost"].update(nfe=nfe, flops=1000.0 * nfe, wallclock_s=0.5 * nfe + (0.5 if t0 is not None else 0.0))
        out["samples_path"] = f"samples/{template['samples_path'].split('/')[1]}/{trial}.json"
        return out

    hand = [
        rec(mask, 0, 4, 12.0, 3.1, 0.40),
        rec(mask, 1, 8, 8.0, 3.2, 0.42),
        rec(mask, 2, 16, 6.0, 3.25, 0.44),
        rec(mask, 3, 32, 6.25, 3.2, 0.43),
        rec(ws, 0, 2, 9.0, 3.0, 0.39, t0=0.5),
        rec(ws, 1, 4, 6.5, 3.15, 0.41, t0=0.5),
        rec(ws, 2, 2, 7.0, 2.9, 0.38, t0=0.8),
        rec(ws, 3, 8, 5.0, 1.5, 0.12, t0=0.8),
        failed(
            clone(ws, params={"method.t0": 0.95}, n_samples=100), trial=4, error="t0 outside range"
        ),
        rec(draft, 0, 0, 10.0, 3.3, 0.45),
    ]
    write_records(run, hand)
    for r in hand:
        if r.get("samples_path"):
            samples = _texts(r["arm"], r["trial"], "sample")
            drafts = _texts(r["arm"], r["trial"], "draft") if r["arm"] == WS else None
            (run / r["samples_path"]).write_text(json.dumps({"samples": samples, "drafts": drafts}))
    if reference:
        refs = [f"REFERENCE {i}: Now is the winter of our discontent" for i in range(5)]
        refs[1] = "a line with ``` three backticks inside"
        (run / "reference.json").write_text(json.dumps({"samples": refs}))
    else:
        (run / "reference.json").unlink()
    return run
