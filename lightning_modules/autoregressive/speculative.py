"""Speculative decoding of `ar`, the competitor a user already has: the character n-gram
drafter proposes `lookahead` tokens, and one cached pass of `ar` over them checks them with
the rule of FLUID's verification (lightning_modules/fluid/decoder.py): a proposal is kept while
it equals `ar`'s own draw with that position's uniform, and `ar`'s draw replaces the first
that does not. So the windows are exactly `ar`'s token-by-token samples for the same seed
(the `autoregressive` method's), whatever the drafter proposes; the drafter only buys passes.
The n-gram's draws use the same uniforms (its counts' inverse CDF over the same token order),
which is what makes its proposals agree with `ar`'s where their distributions do. (At
temperature 0 `ar` is greedy but the n-gram still samples: fewer proposals agree there; the
study runs speculative at temperature 1 only.) The first proposals come before the first pass."""

from __future__ import annotations

import torch

from lightning_modules.core import seeding
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.method import Method
from lightning_modules.core.registry import Knob, register_method
from lightning_modules.drafters.ngram import NGramDrafter
from lightning_modules.fluid.decoder import decode, stride_counters
from lightning_modules.nets.causal import CausalLM


def ngram_proposer(ngram: NGramDrafter, lookahead: int):  # noqa: ANN201
    """A `decode` proposer: each row's next `lookahead` tokens from the n-gram, one position at
    a time on the row's committed tokens and its own proposals so far."""

    def propose(tokens: torch.Tensor, committed: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = tokens.shape[1]
        count = (length - committed).clamp(0, lookahead)
        work = tokens.clone()
        out = torch.zeros(len(tokens), lookahead, dtype=torch.long, device=tokens.device)
        for i in range(int(count.max()) if len(count) else 0):
            live = (i < count).nonzero().squeeze(1)
            at = committed[live] + i
            drawn = ngram.next_tokens(work[live], at, u[live, at])
            work[live, at] = drawn
            out[live, i] = drawn
        return out, count

    return propose


@register_method("speculative", needs=("ar", "drafter"), role="baseline", t0="zero", kinds=("tokens",),
                 family="autoregressive",
                 knobs=(Knob("lookahead", int, 4, low=1, high=32, help="tokens the drafter proposes per pass"),
                        Knob("temperature", float, 1.0, low=0.0, help="divides the logits; 0: greedy")))
class Speculative(Method):
    """`ar`'s samples in fewer passes: n-gram proposals checked by `ar` (module docstring)."""

    name = "speculative"
    needs = ("ar", "drafter")

    def __init__(self, ar: CausalLM, drafter: NGramDrafter, *, lookahead: int = 4, temperature: float = 1.0,
                 chunk: int = 1024) -> None:
        if not isinstance(drafter, NGramDrafter):
            raise ConfigError("drafter.name", type(drafter).__name__, "ngram (speculative proposes with its tables)")
        # not `self.drafter`: a Method's drafter drafts whole samples before refining
        self.lm, self.ngram, self.lookahead = ar, drafter, int(lookahead)
        self.temperature, self.chunk = float(temperature), chunk

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float, dict]:
        u = seeding.rand(n, self.lm.seq_len, seed=seed, stream="ar/token", device=self.device)
        propose = ngram_proposer(self.ngram, self.lookahead)
        runs = [decode(self.lm, chunk, k=0, gamma=1.0, verify=True, temperature=self.temperature, propose=propose,
                       lookahead=self.lookahead) for chunk in u.split(self.chunk)]
        counters = stride_counters(runs)
        return torch.cat([r.tokens for r in runs]), counters["passes"], counters
