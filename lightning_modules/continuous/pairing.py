"""Pairings of source samples with data samples inside a training batch."""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

PAIRINGS = ("independent", "minibatch_ot", "nearest")


def minibatch_ot(source: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Reorder `data` so (source[i], data[i]) is an exact squared-Euclidean assignment."""
    cost = torch.cdist(source.flatten(1).double(), data.flatten(1).double()).pow(2).cpu().numpy()
    _, cols = linear_sum_assignment(cost)
    return data[torch.as_tensor(cols, device=data.device)]


def hamming_ot(drafts: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Reorder token windows `data` [n, L] so (drafts[i], data[i]) is an exact assignment
    minimising the number of positions where they differ (minibatch OT for text)."""
    cost = (drafts.unsqueeze(1) != data.unsqueeze(0)).sum(-1).cpu().numpy()
    _, cols = linear_sum_assignment(cost)
    return data[torch.as_tensor(cols, device=data.device)]


def nearest(source: torch.Tensor, pool: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each source row, the nearest row of `pool` (e.g. the training set)."""
    idx = []
    flat = pool.flatten(1)
    for s in source.split(chunk):
        idx.append(torch.cdist(s.flatten(1), flat).argmin(dim=1))
    return pool[torch.cat(idx)]


def pair(kind: str, source: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Data matched to `source` by `kind`; `nearest` pairs are precomputed, so it passes through."""
    if kind == "independent" or kind == "nearest":
        return data
    if kind == "minibatch_ot":
        return minibatch_ot(source, data)
    raise ValueError(f"unknown pairing '{kind}'; allowed: {', '.join(PAIRINGS)}")
