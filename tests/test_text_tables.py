"""The text report's substrate, drafts-vs-refined and matched-entropy tables, checked against
the records the smoke_text sweep really writes."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from analysis_runs import confirmations, copy_run, md_cells, of_arm, records

from analysis import write_report

WS, DRAFT = "ws_dfm[ngram3]", "drafter_only[ngram3]"


def test_drafts_are_scored_against_the_same_drafts_with_a_paired_bootstrap(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    recs = records(run)
    summary = write_report(run)
    row, fresh = summary["drafts_vs_refined"]
    assert (row["seeds"], fresh["seeds"]) == ("search", "fresh")
    best = min(of_arm(recs, WS), key=lambda r: r["quality"]["gen_ppl"])
    [alone] = of_arm(recs, DRAFT)
    assert alone["train"]["drafter"]["key"] == best["train"]["drafter"]["key"] and alone["seed"] == best["seed"]
    assert row["arm"] == WS and row["drafter_arm"] == DRAFT and row["trial"] == best["trial"]
    assert row["refined"] == best["quality"]["gen_ppl"] and row["draft"] == alone["quality"]["gen_ppl"]
    ratio = np.array(best["quality_boot"]["gen_ppl"]) / np.array(alone["quality_boot"]["gen_ppl"])
    assert row["ratio_ci"] == [float(np.quantile(ratio, 0.025)), float(np.quantile(ratio, 0.975))]
    assert row["better"] == (row["ratio_ci"][1] < 1)
    band = summary["entropy_band"]
    assert band["floor"] == alone["reference_floor"]["entropy"] and band["hi"] == band["floor"] + 0.05
    assert row["in_band"] == (band["lo"] <= best["quality"]["entropy"] <= band["hi"])
    cells = md_cells((run / "report" / "drafts.md").read_text(), WS)
    assert cells[1:3] == ["search", DRAFT] and cells[7] == ("yes" if row["better"] else "no")
    # the picked setting again on fresh seeds, against the drafts of the same fresh seeds
    [confirmed] = [r for r in confirmations(run) if r["arm"] == WS and r["confirm_of"] == best["trial"]]
    [alone_fresh] = [r for r in confirmations(run) if r["arm"] == DRAFT]
    assert confirmed["confirm_of"] == best["trial"] and alone_fresh["seed"] == confirmed["seed"] != best["seed"]
    assert fresh["trial"] == best["trial"] and fresh["seed"] == confirmed["seed"]
    assert fresh["refined"] == confirmed["quality"]["gen_ppl"] and fresh["draft"] == alone_fresh["quality"]["gen_ppl"]
    ratio = np.array(confirmed["quality_boot"]["gen_ppl"]) / np.array(alone_fresh["quality_boot"]["gen_ppl"])
    # (1 - 0.95) / 2 is 0.025 + 2e-17: with 40 replicates the quantile moves by an ulp
    assert fresh["ratio_ci"] == pytest.approx([float(np.quantile(ratio, 0.025)), float(np.quantile(ratio, 0.975))],
                                              rel=1e-12)


def test_the_substrate_table_sets_each_baseline_model_beside_the_evaluator(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    recs = records(run)
    rows = {r["arm"]: r for r in write_report(run)["substrate"]}
    assert set(rows) == {"mdlm", "ar", "evaluator"}
    for arm, need in (("mdlm", "mdlm"), ("ar", "ar")):
        fit = of_arm(recs, arm)[0]["train"][need]
        assert rows[arm]["key"] == fit["key"] and rows[arm]["n_params"] == fit["n_params"]
        assert rows[arm]["val_bits_per_char"] == fit["val_bits_per_char"]
    lm = recs[0]["evaluator"]
    assert rows["evaluator"]["n_params"] == lm["n_params"]
    assert math.isclose(rows["evaluator"]["val_bits_per_char"], math.log2(lm["val_ppl"]))
    assert min(rows["ar"]["n_params"], rows["mdlm"]["n_params"]) < lm["n_params"]  # the evaluator is bigger
    md = (run / "report" / "substrate.md").read_text()
    assert md_cells(md, "mdlm")[1] == f"mdlm [{rows['mdlm']['key']}]"


def test_a_band_holding_every_point_gives_the_plain_speedups_and_an_empty_band_none(
    smoke_runs, tmp_path
):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    wide = write_report(run, options={"entropy_band": 100.0})
    assert wide["matched_entropy"] == wide["speedup_by_axis"]
    assert (run / "report" / "matched_entropy.md").is_file()
    narrow = write_report(run, out=tmp_path / "narrow", options={"entropy_band": 1e-9})
    assert all(not per_base for per_base in narrow["matched_entropy"].values())
    assert not (tmp_path / "narrow" / "matched_entropy.md").exists()


def test_a_bad_entropy_band_is_one_line_and_exit_2(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["text"], tmp_path / "run")
    cmd = [sys.executable, "-m", "sweeps.cli", "analyze", str(run), "--entropy-band", "-1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["wsbench: error: --entropy-band=-1.0 is not allowed: a number of nats > 0"]
    assert not (run / "report").exists()
