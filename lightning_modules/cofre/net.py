"""The fixed-point masked denoiser (FP-MDLM; Miele et al., arXiv 2605.31215): pre blocks P, a
shared block F iterated to (near) a fixed point with the pre blocks' output injected at every
iteration, post blocks H.

    h_pre = P(stem(x)),  h^0 = h_pre (or a reused state, 3SR),  h^{n+1} = F(W_h h^n + W_u h_pre),
    logits = head(norm(H(h^N)))

The stem (token and position embeddings, local convolution), norm and head are the substrate
MDLM's (`nets/transformer.py`), so a trained MDLM converts block for block. The injection is a
linear fusion of the state and h_pre (G = identity, as the paper allows) initialised to
W_h = I, W_u = 0: F is then exactly the block it starts from. It costs 2 D^2 multiply-adds per
token and iteration (about 15% of a block at width 96), counted in FLOPs; block passes count
the transformer blocks only, as the paper's budget does.

Time-free like the substrate MDLM: the same x and the same start state give the same logits.
The iteration count is a plain argument (the ledger prices each count on its own).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(width: int, heads: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout, activation="gelu",
                                      batch_first=True, norm_first=True)


class FixedPointDenoiser(nn.Module):
    time_input = False  # the cached sampler may reuse its logits (reuse off, constant iterations)
    t0_conditioned = False

    def __init__(self, vocab_size: int, seq_len: int, *, width: int = 96, heads: int = 4, pre: int = 1,
                 post: int = 1, iters: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        if iters < 1:
            raise ValueError(f"iters={iters}: at least one fixed-point iteration")
        self.vocab_size, self.seq_len, self.mask_id = vocab_size, seq_len, vocab_size
        self.sample_shape = (seq_len,)
        self.iters = int(iters)  # the iterations of a plain call (validation, ELBO, a constant schedule)
        self.embed = nn.Embedding(vocab_size + 1, width)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(seq_len, width) * 0.02)
        self.local = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.pre = nn.ModuleList([_block(width, heads, dropout) for _ in range(pre)])
        self.fuse = nn.Linear(2 * width, width)
        with torch.no_grad():  # W_h = I, W_u = 0: F starts as its block
            self.fuse.weight.zero_()
            self.fuse.weight[:, :width].copy_(torch.eye(width))
            self.fuse.bias.zero_()
        self.fp = _block(width, heads, dropout)
        self.post = nn.ModuleList([_block(width, heads, dropout) for _ in range(post)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)

    @property
    def blocks_per_call(self) -> tuple[int, int]:
        """(fixed blocks per call: pre + post, blocks per iteration)."""
        return len(self.pre) + len(self.post), 1

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h_pre: the pre blocks' output [n, L, D]."""
        h = self.embed(x.long()) + self.position
        h = h + self.local(h.transpose(1, 2)).transpose(1, 2)
        for block in self.pre:
            h = block(h)
        return h

    def step(self, h: torch.Tensor, h_pre: torch.Tensor) -> torch.Tensor:
        """One fixed-point iteration h <- F(W_h h + W_u h_pre)."""
        return self.fp(self.fuse(torch.cat([h, h_pre], dim=-1)))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The pre-logit hidden states: norm(H(h*)) [n, L, D] (what the consistency loss compares)."""
        for block in self.post:
            h = block(h)
        return self.norm(h)

    def solve(self, h_pre: torch.Tensor, iters: int, h0: torch.Tensor | None = None,
              no_grad_iters: int = 0) -> torch.Tensor:
        """h* after `no_grad_iters` iterations without a graph from h0 (default h_pre) and then
        `iters` with one (stochastic Jacobian-free backprop: only the last ones are differentiated)."""
        h = h_pre if h0 is None else h0
        if no_grad_iters:
            with torch.no_grad():
                h, fixed = h.detach(), h_pre.detach()
                for _ in range(no_grad_iters):
                    h = self.step(h, fixed)
            h = h.detach()
        for _ in range(iters):
            h = self.step(h, h_pre)
        return h

    def forward(self, x: torch.Tensor, iters: int | None = None, h_prev: torch.Tensor | None = None,
                gamma: torch.Tensor | None = None, no_grad_iters: int = 0, hidden: bool = False,
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: token ids [n, L] -> logits [n, L, V]. `iters`: fixed-point iterations (default
        self.iters). State reuse (3SR): h^0 = gamma * h_prev + (1 - gamma) * h_pre, gamma [n, L, 1].
        hidden=True: (logits, pre-logit states, h*)."""
        n_iter = self.iters if iters is None else int(iters)
        h_pre = self.encode(x)
        h0 = None
        if h_prev is not None:
            if gamma is None:
                raise ValueError("h_prev needs gamma (the share of the reused state per position)")
            h0 = gamma * h_prev + (1 - gamma) * h_pre
        h_star = self.solve(h_pre, n_iter, h0, no_grad_iters)
        out = self.decode(h_star)
        logits = self.head(out)
        return (logits, out, h_star) if hidden else logits
