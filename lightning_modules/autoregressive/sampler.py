"""Token-by-token sampling of a `CausalLM`, with a KV cache (what a user runs) or by recomputing
the whole prefix at every position (the reference the cached sampler must match).

Draws are inverse-CDF with per-sample uniforms u [n, L], so sample i depends only on its own
uniforms, and a temperature divides the logits (1.0: the model's own distribution; 0: greedy).
"""

from __future__ import annotations

import torch

from lightning_modules.nets.causal import CausalLM


def categorical(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Draws [n] from softmax(logits / temperature) [n, V] with uniforms u [n] (float64 CDF);
    temperature 0 is greedy (the argmax, u unused)."""
    if temperature == 0:
        return logits.argmax(-1)
    cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(-1)
    target = u.double().unsqueeze(-1) * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_max(logits.shape[-1] - 1)


@torch.inference_mode()
def sample_cached(lm: CausalLM, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Windows [n, L] decoded one token per `lm.step` call (L calls)."""
    n, length = u.shape
    weight = lm.head.weight
    cache = lm.new_cache(n, device=weight.device, dtype=weight.dtype)
    out = torch.empty(n, length, dtype=torch.long, device=weight.device)
    previous = torch.full((n,), lm.bos, dtype=torch.long, device=weight.device)
    for at in range(length):
        previous = categorical(lm.step(previous, at, cache), u[:, at].to(weight.device), temperature)
        out[:, at] = previous
    return out


@torch.inference_mode()
def sample_recomputed(lm: CausalLM, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The same draws, each position scored by a full forward pass over its prefix (no cache)."""
    n, length = u.shape
    weight = lm.head.weight
    out = torch.zeros(n, length, dtype=torch.long, device=weight.device)
    for at in range(length):
        logits = lm(out[:, : at + 1])[:, at]  # position `at` sees BOS and out[:, :at] only
        out[:, at] = categorical(logits, u[:, at].to(weight.device), temperature)
    return out
