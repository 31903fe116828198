"""Transformer denoiser for discrete flow matching: logits of p(x1 | x_t) at every position.

Bidirectional (every position sees the whole sequence), conditioned on t (and on t0 when one
refiner serves a range of t0) by a time embedding added to every position. Inputs are token
ids in [0, vocab_size], the last one being [MASK]; outputs are logits over the vocab_size data
tokens only ([MASK] is never a prediction).
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.nets.time import denoiser_time_features


class TransformerDenoiser(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, *, width: int = 128, depth: int = 3, heads: int = 4,
                 time_freqs: int = 16, t0_conditioned: bool = False, time_input: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"refiner.net.width={width} must be a multiple of refiner.net.heads={heads}")
        self.vocab_size, self.seq_len, self.time_freqs = vocab_size, seq_len, time_freqs
        self.mask_id = vocab_size
        self.t0_conditioned = t0_conditioned
        self.sample_shape = (seq_len,)
        # Tokens and positions start at the same small scale (GPT-2's 0.02): with unit-variance
        # token embeddings the positions are drowned out and context is learned far later.
        self.embed = nn.Embedding(vocab_size + 1, width)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(seq_len, width) * 0.02)
        # A local convolution gives every position its neighbours from the first step; attention
        # alone spends hundreds of steps at the unigram plateau before it finds them.
        self.local = nn.Conv1d(width, width, kernel_size=5, padding=2)
        # time_input=False (MDLM): the denoiser sees only x_t, so equal states give equal logits
        # and a sampler may reuse them (mdlm/sampler.py).
        self.time_input = time_input
        n_time = 2 * time_freqs * (2 if t0_conditioned else 1)
        self.time = nn.Sequential(nn.Linear(n_time, width), nn.SiLU(), nn.Linear(width, width)) if time_input else None
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None, t0: torch.Tensor | None = None) -> torch.Tensor:
        """x: token ids [n, L] (any dtype holding integers), t: [n] -> logits [n, L, vocab_size]
        (t is ignored by a denoiser built with time_input=False)."""
        h = self.embed(x.long()) + self.position
        h = h + self.local(h.transpose(1, 2)).transpose(1, 2)
        if self.time is None:
            return self.head(self.norm(self.blocks(h)))
        feats = denoiser_time_features(t, self.time_freqs)
        if self.t0_conditioned:
            if t0 is None:  # a silent default would sample a t0 the caller never asked for
                raise ValueError("this denoiser is t0-conditioned: pass t0 (the start time of the path)")
            feats = torch.cat([feats, denoiser_time_features(t0, self.time_freqs)], dim=-1)
        return self.head(self.norm(self.blocks(h + self.time(feats).unsqueeze(1))))
