"""Which digits protocol decides a comparison? (issue 31) Measured on a finished digits run.

    WSBENCH_CACHE=... python benchmarks/digits_protocol.py RUN_DIR [--n 4000] [--boot 400]
        [--out protocol.json] [--arms ARM ...]

Takes the run's look-1 confirmations (fresh seeds), picks for every arm its best finalist and
its best within 4 NFE, regenerates each at n samples on the same per-sample seeds (so its
first n_search samples are the confirmation's own: checked against the record's FID), and
compares protocols on the same samples:

  fid, fixed ref    today's: the generated set resampled, the 600-image reference fixed
  fid, joint ref    the reference resampled too, the same rows for every finalist
  kid, joint ref    unbiased MMD^2 (cubic kernel, KID's), both sides resampled jointly

at n_search and at n. For every comparison the verdicts read (an arm's finalist against a
baseline's, overall and within 4 NFE) it prints the paired difference (method - baseline)
with its 95% and 98.3% intervals, relative to the baseline's value, and whether the
interval excludes 0: the question a protocol must answer. Quality only (nothing is timed), so
it may run beside other work.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from lightning_modules.core.registry import METHODS, build_method
from lightning_modules.metrics._common import counts_of
from lightning_modules.metrics.fid import image_features
from sweeps.arms import build_arms
from sweeps.cache import ArtifactCache
from sweeps.config import with_params
from sweeps.models import ModelStore
from sweeps.trial import Evaluator, knob_settings

SMALL_BUDGET = 4  # NFE: the small-budget target of analysis/confirmed.py (+0.5: a drafter's share)
ARMS = ("noise_start[indep]", "noise_start[ot]", "warm_start[conv_vae,ot]", "warm_start[ppca,ot]")
LEVELS = (0.95, 1 - 0.05 / 3)  # one look's 95%, and 98.3% (Bonferroni over 3 looks)


def finalists(run_dir: Path) -> dict[tuple[str, str], dict]:
    """{(arm, "best" | "<=4 NFE"): record} from the run's look-1 confirmations."""
    rows = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines() if line.strip()]
    confirms = [r for r in rows if r.get("confirm") and r.get("look", 1) == 1 and r["state"] == "COMPLETE"]
    by_arm = defaultdict(list)
    for r in confirms:
        by_arm[r["arm"]].append(r)
    out = {}
    for arm, recs in by_arm.items():
        metric = recs[0]["primary_metric"]
        out[(arm, "best")] = min(recs, key=lambda r: r["quality"][metric])
        small = [r for r in recs if r["cost"]["nfe"] <= SMALL_BUDGET + 0.5]
        if small:
            out[(arm, "<=4 NFE")] = min(small, key=lambda r: r["quality"][metric])
    return out


def fid_from_moments(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """Fréchet distance of two Gaussians: |mu1 - mu2|^2 + tr(s1 + s2 - 2 (s1^1/2 s2 s1^1/2)^1/2)."""
    w, v = torch.linalg.eigh(s1)
    root = (v * w.clamp_min(0).sqrt()) @ v.T
    inner = torch.linalg.eigvalsh(root @ s2 @ root).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * inner)


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(0), torch.cov(x.T)


def fid_replicates(gen: torch.Tensor, ref: torch.Tensor, gen_idx: torch.Tensor, ref_idx: torch.Tensor | None,
                   ref_moments: list) -> tuple[float, np.ndarray]:
    """FID and its replicates: row b resamples gen by gen_idx[b] and, when given, ref by ref_idx[b]."""
    value = fid_from_moments(*moments(gen), *moments(ref))
    reps = []
    for b in range(len(gen_idx)):
        rm = ref_moments[b] if ref_idx is not None else ref_moments[0]
        reps.append(fid_from_moments(*moments(gen[gen_idx[b]]), *rm))
    return value, np.array(reps)


def kid_replicates(gen: torch.Tensor, ref: torch.Tensor, gen_counts: torch.Tensor,
                   ref_counts: torch.Tensor) -> tuple[float, np.ndarray]:
    """Unbiased MMD^2 with KID's kernel (x.y / d + 1)^3, and its replicates under resampling
    by multiplicities: the off-diagonal sum over positions is c'Kc - sum_a c_a K_aa."""
    d = gen.shape[1]
    kxx = (gen @ gen.T / d + 1).pow(3)
    kyy = (ref @ ref.T / d + 1).pow(3)
    kxy = (gen @ ref.T / d + 1).pow(3)
    n, m = len(gen), len(ref)

    def mmd(cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:  # cx [B, n], cy [B, m]
        xx = ((cx @ kxx) * cx).sum(1) - cx @ kxx.diagonal()
        yy = ((cy @ kyy) * cy).sum(1) - cy @ kyy.diagonal()
        xy = ((cx @ kxy) * cy).sum(1)
        return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m)

    value = float(mmd(torch.ones(1, n, dtype=gen.dtype), torch.ones(1, m, dtype=gen.dtype))[0])
    return value, mmd(gen_counts, ref_counts).numpy()


def interval(value: float, reps: np.ndarray, level: float) -> list[float]:
    """The percentile interval of the replicates, centred on the value (as percentile_interval)."""
    centred = reps - reps.mean() + value
    tail = (1 - level) / 2
    return [float(np.quantile(centred, tail)), float(np.quantile(centred, 1 - tail))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--boot", type=int, default=400)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--features", type=Path, default=None,
                    help="a .pt file of the generated and reference features: written, or read if it exists")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), help="arms compared (the baselines among them)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    picks = {k: v for k, v in finalists(args.run_dir).items() if k[0] in args.arms}
    _, arms = build_arms(["experiment=digits", "logger=none"])
    cfg_of = {a.name: a.cfg for a in arms}
    roles = {r["arm"]: r["role"] for r in picks.values()}
    store = ModelStore(ArtifactCache())
    evaluator = Evaluator(store)
    feats, checks = {}, {}
    ref_feats = None
    if args.features and args.features.exists():
        saved = torch.load(args.features)
        feats, ref_feats, checks = saved["feats"], saved["ref"], saved["checks"]
    for (arm, which), rec in picks.items():
        if (arm, which) in feats:
            continue
        cfg = with_params(cfg_of[arm], {k: rec["params"][k] for k in rec["swept"]})
        cfg.seed, cfg.eval.n_samples = int(rec["seed"]), int(args.n)
        spec = METHODS.get(cfg.method.name)
        method = build_method(spec.name, {need: store.get(need, cfg) for need in spec.needs}, knob_settings(cfg))
        samples = method.generate(args.n, cfg.seed).samples.cpu()
        net = store.get("feature_net", cfg)
        feats[(arm, which)] = image_features(net, samples)
        if ref_feats is None:
            ref_feats = evaluator.reference(cfg).features.to(torch.float64)
        n0 = int(rec["n_samples"])
        again = fid_from_moments(*moments(feats[(arm, which)][:n0]), *moments(ref_feats))
        checks[f"{arm} {which}"] = {"record": rec["quality"]["fid"], "regenerated": again}
        print(f"{arm} {which}: nfe {rec['cost']['nfe']:.3g}, record FID {rec['quality']['fid']:.4f}, "
              f"first {n0} regenerated {again:.4f}", flush=True)
    if args.features and not args.features.exists():
        torch.save({"feats": feats, "ref": ref_feats, "checks": checks}, args.features)
    n_search = int(next(iter(picks.values()))["n_samples"])
    m = len(ref_feats)
    gen_idx = {n: torch.randint(0, n, (args.boot, n), generator=torch.Generator().manual_seed(n)) for n in (n_search, args.n)}
    ref_idx = torch.randint(0, m, (args.boot, m), generator=torch.Generator().manual_seed(7))
    ref_moms = [moments(ref_feats[ref_idx[b]]) for b in range(args.boot)]
    fixed = [moments(ref_feats)]
    results: dict = {"n_search": n_search, "n": args.n, "boot": args.boot, "checks": checks, "protocols": {}}
    for n in (n_search, args.n):
        for name in ("fid, fixed ref", "fid, joint ref", "kid, joint ref"):
            est = {}
            for key, f in feats.items():
                g = f[:n]
                if name.startswith("fid"):
                    joint = name.endswith("joint ref")
                    est[key] = fid_replicates(g, ref_feats, gen_idx[n], ref_idx if joint else None,
                                              ref_moms if joint else fixed)
                else:
                    est[key] = kid_replicates(g, ref_feats, counts_of(gen_idx[n], n), counts_of(ref_idx, m))
            rows = []
            for (arm, which), (value, reps) in est.items():
                if roles[arm] == "baseline":
                    continue
                # best vs best; the cheap point against the baseline's best (does it reach the
                # strict target?) and against the baseline's best within the same budget
                against = ["best"] if which == "best" else ["best", which]
                for base, base_which in ((a, w) for a, r in roles.items() if r == "baseline" for w in against):
                    if (base, base_which) not in est:
                        continue
                    bv, br = est[(base, base_which)]
                    diff, dreps = value - bv, reps - br
                    row = {"arm": arm, "which": which, "baseline": base, "baseline_which": base_which,
                           "value": value, "baseline_value": bv,
                           "diff": diff, "relative": diff / abs(bv) if bv else math.nan}
                    for level in LEVELS:
                        lo, hi = interval(diff, dreps, level)
                        row[f"ci_{level:.3f}"] = [lo, hi]
                        row[f"decided_{level:.3f}"] = "better" if hi < 0 else "worse" if lo > 0 else "undecided"
                    rows.append(row)
            results["protocols"][f"{name}, n={n}"] = rows
            print(f"\n{name}, n = {n} (difference method - baseline; 95% / 98.3% intervals)")
            for r in rows:
                lo, hi = r[f"ci_{LEVELS[1]:.3f}"]
                print(f"  {r['arm']:24s} {r['which']:8s} vs {r['baseline']:18s} {r['baseline_which']:8s} {r['value']:.4g} vs "
                      f"{r['baseline_value']:.4g}: {r['diff']:+.4g} ({100 * r['relative']:+.0f}%) "
                      f"98.3% [{lo:+.4g}, {hi:+.4g}] {r[f'decided_{LEVELS[1]:.3f}']}"
                      f" (95%: {r[f'decided_{LEVELS[0]:.3f}']})", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
