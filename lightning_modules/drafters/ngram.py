"""Character n-gram drafter: a fitted count model (no gradients); the order is the quality knob.

Counts of every context of length 0..order-1 are kept as sorted sparse tables (buffers, so
the fitted model is cached like any other). Sampling backs off to the longest context seen in
training ("stupid backoff" without discounting: a draft never contains an unseen (context,
token) pair of the longest order that has the context). Draft i depends only on (seed, start+i).
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.core import seeding
from lightning_modules.core.device import device_of


class NGramDrafter(nn.Module):
    work = "not matrix products: table lookups and categorical draws (0 FLOPs counted)"

    def __init__(self, vocab_size: int, seq_len: int, order: int = 3) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"drafter.order={order}: must be >= 1")
        if vocab_size ** order >= 2**62:
            raise ValueError(f"drafter.order={order}: vocab_size^order must fit in int64")
        self.vocab_size, self.seq_len, self.order = vocab_size, seq_len, order
        for k in range(order):  # k = context length
            for name in ("ctx", "start", "end", "next", "cum"):
                self.register_buffer(f"{name}{k}", torch.zeros(0, dtype=torch.long))

    @classmethod
    def fit(cls, stream: torch.Tensor, vocab_size: int, seq_len: int, order: int) -> NGramDrafter:
        """Count every (context, next token) of a 1-D token stream, for contexts of 0..order-1 tokens."""
        model = cls(vocab_size, seq_len, order)
        stream = stream.flatten().long()
        v = vocab_size
        for k in range(order):
            n = stream.numel() - k
            ctx = torch.zeros(n, dtype=torch.long)
            for j in range(k):  # context key: base-V number of the k previous tokens
                ctx = ctx * v + stream[j:j + n]
            joint, counts = torch.unique(ctx * v + stream[k:k + n], return_counts=True)  # sorted
            ctx_of = joint // v
            keys, first = torch.unique_consecutive(ctx_of, return_counts=True)
            ends = torch.cumsum(first, 0)
            setattr(model, f"ctx{k}", keys)
            setattr(model, f"start{k}", ends - first)
            setattr(model, f"end{k}", ends)
            setattr(model, f"next{k}", joint % v)
            setattr(model, f"cum{k}", torch.cumsum(counts, 0))
        return model

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # Table sizes depend on the data: take them from the checkpoint.
        for name in list(self._buffers):
            if prefix + name in state_dict:
                self._buffers[name] = torch.empty_like(state_dict[prefix + name])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _lookup(self, k: int, ctx: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws for contexts of length k (base-V keys `ctx`) with uniforms u: (seen, tokens[seen])."""
        keys = getattr(self, f"ctx{k}")
        if keys.numel() == 0:
            return torch.zeros_like(ctx, dtype=torch.bool), ctx[:0]
        row = torch.searchsorted(keys, ctx).clamp_max(keys.numel() - 1)
        seen = keys[row] == ctx
        row = row[seen]
        lo, hi = getattr(self, f"start{k}")[row], getattr(self, f"end{k}")[row]
        cum = getattr(self, f"cum{k}")
        before = torch.where(lo > 0, cum[(lo - 1).clamp_min(0)], torch.zeros_like(lo))
        total = cum[hi - 1] - before
        target = before.double() + u[seen].double() * total.double()
        pick = torch.searchsorted(cum.double(), target, right=True).clamp(lo, hi - 1)
        return seen, getattr(self, f"next{k}")[pick]

    def _context(self, x: torch.Tensor, p: int, k: int) -> torch.Tensor:
        ctx = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        for j in range(p - k, p):
            ctx = ctx * self.vocab_size + x[:, j]
        return ctx

    @torch.no_grad()
    def next_tokens(self, x: torch.Tensor, positions: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Each row's token at its own position `positions` [r] given the tokens before it in
        x [r, L], drawn with uniforms u [r] (backing off as `sample`): speculative decoding's
        proposals, one position per row at a time."""
        token = torch.full_like(positions, -1)
        for k in range(self.order - 1, -1, -1):  # longest context first
            todo = ((token < 0) & (positions >= k)).nonzero().squeeze(1)
            if todo.numel() == 0:
                continue
            ctx = torch.zeros(todo.numel(), dtype=torch.long, device=x.device)
            for j in range(k):
                ctx = ctx * self.vocab_size + x[todo, positions[todo] - k + j]
            seen, drawn = self._lookup(k, ctx, u[todo].double())
            token[todo[seen]] = drawn
        return token

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
        """n drafts [n, seq_len] of token ids."""
        device = device_of(self)
        u = seeding.rand(n, self.seq_len, seed=seed, stream="drafter/ngram", start=start, device=device).double()
        x = torch.zeros(n, self.seq_len, dtype=torch.long, device=u.device)
        for p in range(self.seq_len):
            token = torch.full((n,), -1, dtype=torch.long, device=u.device)
            for k in range(min(self.order - 1, p), -1, -1):  # longest context first
                todo = (token < 0).nonzero().squeeze(1)
                if todo.numel() == 0:
                    break
                seen, drawn = self._lookup(k, self._context(x[todo], p, k), u[todo, p])
                token[todo[seen]] = drawn
            x[:, p] = token
        return x

    @torch.no_grad()
    def teacher_forced(self, x1: torch.Tensor, *, seed: int, start: int = 0) -> torch.Tensor:
        """Drafts paired with data x1 [n, L]: token p drawn from the model given x1's own
        preceding tokens (what the drafter would write there), so draft and data are coupled."""
        n, length = x1.shape
        device = device_of(self)
        u = seeding.rand(n, length, seed=seed, stream="drafter/ngram/teacher_forced", start=start, device=device).double()
        x = torch.full((n, length), -1, dtype=torch.long, device=u.device)
        for p in range(length):
            for k in range(min(self.order - 1, p), -1, -1):
                todo = (x[:, p] < 0).nonzero().squeeze(1)
                if todo.numel() == 0:
                    break
                seen, drawn = self._lookup(k, self._context(x1[todo], p, k), u[todo, p])
                x[todo[seen], p] = drawn
        return x
