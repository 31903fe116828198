"""Step importance (the paper's diagnostic): where along a sampling run the light network is
safe. Per bin of the mask rate t, on held-out windows masked at that rate, each network's
loss (cross-entropy on the masked positions, bits per masked character) and the KL divergence
KL(heavy || light) between their predictions on the same masked inputs.

The cached ancestral sampler from all [MASK] sees mask rate t = 1 - i / steps at step i, so
the x axis is the share of the steps already done, 1 - t: early steps on the left (almost all
[MASK]), late steps on the right. Intervals: 95% normal intervals over windows.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

BINS = 16
LOG2 = math.log(2.0)


@torch.inference_mode()
def step_importance(heavy: nn.Module, light: nn.Module, windows: torch.Tensor, *, mask_id: int, bins: int = BINS,
                    seed: int = 0, batch_size: int = 256) -> dict:
    """Per bin of sampling progress (1 - t): mean and 95% half-width over windows of each
    network's masked cross-entropy (bits) and of KL(heavy || light) (bits per masked position)."""
    g = torch.Generator().manual_seed(seed)
    device = next(heavy.parameters()).device
    rows: dict[str, list[torch.Tensor]] = {"heavy": [], "light": [], "kl": []}
    out = {k: [] for k in ("heavy", "light", "kl")}
    progress = []
    for b in range(bins):
        for k in rows:
            rows[k].clear()
        lo, hi = 1 - (b + 1) / bins, 1 - b / bins  # mask rates of this bin of progress
        for chunk in windows.long().split(batch_size):
            t = lo + (hi - lo) * torch.rand(len(chunk), 1, generator=g)
            masked = torch.rand(chunk.shape, generator=g) < t
            # at least one masked position per window, at a random place (position 0, the one
            # without left context, would bias the last bins, where few windows have a mask)
            none = ~masked.any(1)
            pick = torch.randint(0, chunk.shape[1], (len(chunk),), generator=g)
            masked[none, pick[none]] = True
            z = torch.where(masked, torch.full_like(chunk, mask_id), chunk).to(device)
            x, m = chunk.to(device), masked.to(device)
            logp_h = F.log_softmax(heavy(z).double(), -1)
            logp_l = F.log_softmax(light(z).double(), -1)
            per = {"heavy": -logp_h.gather(-1, x.unsqueeze(-1)).squeeze(-1),
                   "light": -logp_l.gather(-1, x.unsqueeze(-1)).squeeze(-1),
                   "kl": (logp_h.exp() * (logp_h - logp_l)).sum(-1)}
            for k, v in per.items():
                rows[k].append(((v * m).sum(1) / m.sum(1)).cpu() / LOG2)  # per window, bits
        for k in rows:
            v = torch.cat(rows[k])
            out[k].append((float(v.mean()), 1.96 * float(v.std()) / math.sqrt(len(v))))
        progress.append(1 - (lo + hi) / 2)
    return {"progress": progress, **{k: [m for m, _ in v] for k, v in out.items()},
            **{f"{k}_hw": [h for _, h in v] for k, v in out.items()}, "n_windows": int(len(windows)), "bins": bins}


def diagnostic(models: dict[str, nn.Module], dm, cfg) -> dict:  # noqa: ANN001, ARG001
    """The step-importance profile as a report diagnostic (analysis.diagnostics draws it)."""
    heavy, light = models["mdlm"], models["mdlm_light"]
    windows = dm.val[: min(len(dm.val), 1024)]
    prof = step_importance(heavy, light, windows, mask_id=heavy.mask_id)
    band = lambda k: {"lo": [m - h for m, h in zip(prof[k], prof[f"{k}_hw"], strict=True)],  # noqa: E731
                      "hi": [m + h for m, h in zip(prof[k], prof[f"{k}_hw"], strict=True)]}
    gap = [light_ - heavy_ for light_, heavy_ in zip(prof["light"], prof["heavy"], strict=True)]
    return {
        "name": "step_importance",
        "title": "Step importance: where the light network is safe",
        "x": {"label": "share of the sampling steps done (1 - mask rate)", "values": prof["progress"]},
        "panels": [
            {"ylabel": "loss on masked characters (bits)",
             "series": [{"label": "heavy", "y": prof["heavy"], **band("heavy")},
                        {"label": "light", "y": prof["light"], **band("light")}]},
            {"ylabel": "bits per masked character",
             "series": [{"label": "loss gap, light - heavy", "y": gap},
                        {"label": "KL(heavy || light)", "y": prof["kl"], **band("kl")}]},
        ],
        "n_windows": prof["n_windows"],
        "note": "held-out windows masked at rate t in each bin; early steps (left) see almost all [MASK]",
    }
