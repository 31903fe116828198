"""Speed-ups with their uncertainty: paired bootstrap replicates in the records, the target at
the baseline's best point estimate, and each speed-up's interval over the replicates, on
records the smoke sweeps really write (values moved by hand where a case needs them)."""

import math

import numpy as np
import pytest
import torch
from analysis_runs import copy_run, of_arm, records, with_values, write_records

from analysis import load_trials, write_report
from analysis.fronts import iso_quality_speedup
from analysis.intervals import speedup_interval
from analysis.measured import Points, points_for
from lightning_modules.metrics import quality
from lightning_modules.metrics._common import bootstrap_indices, make_generator
from lightning_modules.metrics.energy import energy
from lightning_modules.metrics.fid import fid
from lightning_modules.metrics.histogram import hist_tv
from lightning_modules.metrics.text import gen_ppl

IND, WARM, DRAFT = "noise_start[indep]", "warm_start[gmm4]", "drafter_only[gmm4]"


@pytest.fixture(autouse=True)
def _mpl_config(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))


def _gauss(n, d, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


# --- replicates: paired across trials ---------------------------------------------------------


def test_every_metric_resamples_the_same_indices_for_one_seed_and_n():
    # Two "trials" (different samples, same n and seed): replicate b of each is the metric of
    # the samples at the same resampled indices, for every metric.
    n, n_boot, seed = 40, 4, 3
    idx = bootstrap_indices(n, n_boot, make_generator(seed))
    y = _gauss(60, 2, 1)
    for x in (_gauss(n, 2, 2), _gauss(n, 2, 5, shift=0.7)):
        tv = hist_tv(x, y, n_boot=n_boot, seed=seed, bins=6).replicates
        en = energy(x, y, n_boot=n_boot, seed=seed).replicates
        for b in range(n_boot):
            assert tv[b].item() == pytest.approx(hist_tv(x[idx[b]], y, bins=6).value, abs=1e-12)
            assert en[b].item() == pytest.approx(energy(x[idx[b]], y).value, rel=1e-9)
    nll = torch.linspace(0.5, 2.0, n, dtype=torch.float64)
    ppl = gen_ppl(nll, n_boot=n_boot, seed=seed).replicates
    for b in range(n_boot):
        assert ppl[b].item() == pytest.approx(math.exp(nll[idx[b]].mean().item()), rel=1e-12)
    feats, ref = _gauss(n, 3, 7), _gauss(50, 3, 8)
    reps = fid(feats, ref, n_boot=2, seed=seed).replicates
    assert reps[1].item() == pytest.approx(fid(feats[idx[1]], ref, n_boot=0).value, rel=1e-6)


def test_recorded_replicates_are_centred_rounded_and_give_the_ci():
    x, y = _gauss(200, 2, 11, shift=0.3), _gauss(300, 2, 12)
    q = quality(x, y, metrics=["sw2", "hist_tv"], n_boot=50, seed=4, replicates=True)
    raw = hist_tv(x, y, n_boot=50, seed=4, bins=48).replicates.numpy()
    boot = np.array(q["hist_tv_boot"])
    # The centring shift (value - mean of the replicates) is one constant per trial: pairing kept.
    np.testing.assert_allclose(boot - raw, q["hist_tv"] - raw.mean(), atol=1e-6)
    assert all(len(f"{v:.15g}".replace(".", "").lstrip("0")) <= 6 for v in boot)  # 6 digits
    lo, hi = np.quantile(np.array(q["sw2_boot"]), [0.025, 0.975])
    assert (lo, hi) == pytest.approx(tuple(q["sw2_ci"]), rel=1e-5)
    assert "sw2_boot" not in quality(x, y, metrics=["sw2"], n_boot=5)  # only when asked


@pytest.mark.parametrize("track", ["points", "images", "text"])
def test_smoke_records_carry_paired_replicates_of_every_metric(smoke_runs, track):
    recs = [r for r in records(smoke_runs[track]) if r["state"] == "COMPLETE"]
    metrics = [k for k in recs[0]["quality"] if not k.endswith("_ci")]
    # B per metric: eval.n_boot, KID's subsets for KID; the same in every record.
    n_boot = {m: len(recs[0]["quality_boot"][m]) for m in metrics}
    assert min(n_boot.values()) > 1
    for r in recs:
        assert sorted(r["quality_boot"]) == sorted(metrics)  # gen PPL, entropy, FID, KID too
        for m in metrics:
            assert len(r["quality_boot"][m]) == n_boot[m]
            lo, hi = r["quality"][f"{m}_ci"]
            assert lo - 1e-4 * abs(lo) - 1e-12 <= np.median(r["quality_boot"][m]) <= hi * (1 + 1e-4) + 1e-12
    assert len({(r["seed"], r["n_samples"]) for r in recs}) == 1  # one joint resample per b


# --- the target and the drafter ---------------------------------------------------------------


def test_target_is_the_baseline_best_point_estimate_on_a_real_run(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    summary = write_report(run)
    metric = summary["metric"]
    best = min(r["quality"][metric] for r in of_arm(records(run), IND) if r["state"] == "COMPLETE")
    for result in summary["speedup_at_iso_quality"][IND].values():
        assert result["target"] == best


def test_drafter_suffices_is_read_from_the_role_not_from_nfe(smoke_runs, tmp_path):
    # The ledger counts the drafter in NFE, so the drafter-only record has nfe > 0; its role
    # says no refiner ran. Put its quality below the baseline's best.
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    metric = recs[0]["primary_metric"]
    best = min(r["quality"][metric] for r in of_arm(recs, IND))
    draft = of_arm(recs, DRAFT)[0]
    assert draft["cost"]["nfe"] > 0 and draft["cost"]["evals"] == 0
    moved = with_values(draft, arm=DRAFT, trial=0, metric=metric, value=best / 2, ci=(0, best),
                        nfe=draft["cost"]["nfe"])  # fmt: skip
    write_records(run, [r for r in recs if r["arm"] != DRAFT] + [moved])
    result = write_report(run)["speedup_at_iso_quality"][IND][DRAFT]
    assert result["status"] == "drafter_suffices" and result["text"] == "drafter suffices"


# --- intervals ----------------------------------------------------------------------------------


def _constructed_run(smoke_runs, dest, method_values):
    """The baseline at nfe 1, 2, 4 with hist_tv 0.30, 0.20, 0.15 and one warm arm with the
    given (nfe, value) points; every record a real one (its real replicates moved with the
    value), so replicate b of each side is one joint resample. Wall-clock is set to 10 ms per
    NFE: the smoke run's real timings would make the wall-clock verdicts depend on the load."""
    run = copy_run(smoke_runs["points"], dest)
    recs = records(run)
    metric = "hist_tv"
    base, warm = of_arm(recs, IND), of_arm(recs, WARM)
    out = [with_values(base[i], arm=IND, trial=i, metric=metric, value=v, ci=(v - 0.02, v + 0.02), nfe=nfe,
                       wallclock_s=0.01 * nfe) for i, (nfe, v) in enumerate([(1, 0.30), (2, 0.20), (4, 0.15)])]  # fmt: skip
    out += [with_values(warm[i % len(warm)], arm=WARM, trial=i, metric=metric, value=v, ci=(v - 0.02, v + 0.02),
                        nfe=nfe, wallclock_s=0.01 * nfe) for i, (nfe, v) in enumerate(method_values)]  # fmt: skip
    return write_records(run, out)


def _brute_force_ratios(base_recs, method_recs, metric):
    """The rule, one replicate at a time, straight from the records."""
    n_boot = len(base_recs[0]["quality_boot"][metric])
    ratios = []
    for b in range(n_boot):
        target = min(r["quality_boot"][metric][b] for r in base_recs)
        base_cost = min(r["cost"]["nfe"] for r in base_recs if r["quality_boot"][metric][b] <= target)
        hits = [r["cost"]["nfe"] for r in method_recs if r["quality_boot"][metric][b] <= target]
        ratios.append(base_cost / min(hits) if hits else 0.0)
    return sorted(ratios)


def test_interval_resamples_both_sides_together_and_contains_the_point(smoke_runs, tmp_path):
    run = _constructed_run(smoke_runs, tmp_path / "run", [(1, 0.16), (2, 0.14), (4, 0.10), (8, 0.05)])
    trials = load_trials(run)
    base = points_for(trials.loc[trials["arm"] == IND], "hist_tv", "nfe")
    method = points_for(trials.loc[trials["arm"] == WARM], "hist_tv", "nfe")
    result = iso_quality_speedup(base, method)
    assert result["target"] == 0.15 and (result["status"], result["value"]) == ("ok", 2.0)
    interval = result["interval"]
    ratios = _brute_force_ratios(of_arm(records(run), IND), of_arm(records(run), WARM), "hist_tv")
    n = len(ratios)
    assert interval["n_boot"] == n
    lo = ratios[math.ceil(0.025 * n) - 1]
    hi = ratios[math.ceil(0.975 * n) - 1]
    assert (interval["lo"], interval["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert interval["lo"] <= result["value"] <= interval["hi"]
    assert result["display"] == f"2.0x {interval['text']}"
    # Shuffling one side's replicates breaks the pairing: the interval changes.
    shuffled = Points.of(method.cost, method.quality, nfe=method.nfe, boot=method.boot[:, ::-1])
    assert speedup_interval(base, shuffled)["text"] != interval["text"] or np.allclose(
        method.boot, method.boot[:, ::-1]
    )


def test_a_speedup_whose_interval_contains_one_is_flagged(smoke_runs, tmp_path):
    # Method points just at the baseline's level: 1.0x with replicates on both sides of 1.
    run = _constructed_run(smoke_runs, tmp_path / "run", [(1, 0.30), (2, 0.20), (4, 0.15)])
    summary = write_report(run, metric="hist_tv")
    result = summary["speedup_at_iso_quality"][IND][WARM]
    interval = result["interval"]
    assert not interval["resolved"] and interval["lo"] <= 1 <= (interval["hi"] or math.inf)
    assert f"{WARM} vs {IND} (NFE)" in summary["uncertainty"]["unresolved"]
    note = (run / "report" / "speedup.md").read_text().strip().splitlines()[-1]
    assert "contains 1" in note and "raise eval.n_samples" in note
    # A clear win is resolved and not listed.
    clear = _constructed_run(smoke_runs, tmp_path / "clear", [(1, 0.01), (2, 0.005)])
    summary = write_report(clear, metric="hist_tv")
    result = summary["speedup_at_iso_quality"][IND][WARM]
    assert result["status"] == "lower_bound" and result["interval"]["resolved"]
    assert result["interval"]["text"] == "[≥ 4.0, ≥ 4.0]" and result["display"] == "≥ 4.0x [≥ 4.0, ≥ 4.0]"
    assert summary["uncertainty"]["unresolved"] == []


def test_never_reaching_replicates_are_counted():
    # Replicate 0: the method reaches the moving target; replicate 1: it does not.
    base = Points.of([4], [0.2], boot=[[0.2, 0.1]])
    method = Points.of([1, 2], [0.3, 0.19], boot=[[0.3, 0.3], [0.19, 0.15]])
    interval = speedup_interval(base, method)
    assert interval["reach_fraction"] == 0.5
    assert interval["text"] == "[never, 2.0]" and interval["lo"] == 0.0 and not interval["resolved"]


def test_unpaired_trials_get_no_interval(smoke_runs, tmp_path):
    run = copy_run(smoke_runs["points"], tmp_path / "run")
    recs = records(run)
    for r in recs:
        if r["arm"] == WARM:
            r["seed"] = 7  # other per-sample noise: replicate b is not a joint resample
    write_records(run, recs)
    result = write_report(run)["speedup_at_iso_quality"][IND][WARM]
    assert result["interval"]["n_boot"] == 0 and "not paired" in result["interval"]["why"]
    assert result["display"] == result["text"]
