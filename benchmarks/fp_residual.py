"""Does a trained FP-MDLM's shared block have a fixed point? For held-out windows masked at
t ~ U(0, 1) (one uniform per position, as in training), iterate h <- F(W_h h + W_u h_pre) from
h_pre and print the relative step ||h_{k+1} - h_k|| / ||h_k|| for k = 0..7 (shrinking: a
contraction, so warm starts such as 3SR can help; flat or growing: each iteration moves the
state as much as the last, and a reused state is a different input, not a head start):

    python benchmarks/fp_residual.py [OVERRIDES ...]   (e.g. substrate.fp_mdlm.init=mdlm substrate.fp_mdlm.steps=3200)

It reads the model from the cache (or the shipped copy); it never trains.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.cofre.models import CONS, FP  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402


@torch.no_grad()
def residuals(net, windows: torch.Tensor, mask_id: int, iters: int = 8, seed: int = 0) -> list[float]:  # noqa: ANN001
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(len(windows), 1, generator=g)
    x = torch.where(torch.rand(windows.shape, generator=g) < t, torch.full_like(windows, mask_id), windows)
    h_pre = net.encode(x)
    h, out = h_pre, []
    for _ in range(iters):
        nxt = net.step(h, h_pre)
        out.append(float((nxt - h).norm() / h.norm()))
        h = nxt
    return out


def main(argv: list[str]) -> None:
    cfg = compose(["experiment=cofre", *argv])
    store = ModelStore(ArtifactCache(cfg.cache_dir), log=lambda *_: None)
    dm = store.data(cfg)
    windows = dm.val[:256].long()
    for role in (FP, CONS):
        key = store.key(role, cfg)
        if not store.has(key):
            print(f"{role} [{key}]: not trained; skipped")
            continue
        net = store.get(role, cfg).eval()
        steps = ", ".join(f"{r:.3f}" for r in residuals(net, windows, net.mask_id))
        print(f"{role} [{key}]: relative step at k = 0..7: {steps}")


if __name__ == "__main__":
    main(sys.argv[1:])
