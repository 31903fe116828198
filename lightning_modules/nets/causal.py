"""A causal transformer language model over characters, with a KV cache for sampling.

A window starts from BOS (token id `vocab_size`, never a prediction): position i sees BOS and
the tokens before i and predicts token i. `forward` scores whole windows (training, exact
bits per character); `step` decodes one token per call from cached keys and values, so a
sample of L tokens costs L calls whose attention grows with the prefix (the ledger measures
each call's FLOPs at its own shapes).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    is_block = True  # a unit of the ledger's block passes

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        return x.view(n, length, self.heads, width // self.heads).transpose(1, 2)  # [n, H, len, d]

    def forward(self, h: torch.Tensor, cache: dict | None = None, at: int = 0,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """h [n, len, width]. Without a cache: causal attention over the window, or the boolean
        `mask` [len, len] (True: may attend) where given. With one (keys/values [n, H, L, d]
        preallocated): h is position `at`, written to the cache, and attends to positions <= at;
        or, with a `mask` [n, 1, len, at + len] too, h holds new slots that attend to the first
        `at` cached positions and to each other as the mask says; their keys and values are left
        in cache["new_k"], cache["new_v"] for the caller to write where its rows need them."""
        q, k, v = (self._split(t) for t in self.qkv(self.norm1(h)).chunk(3, dim=-1))
        if cache is None:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        elif mask is not None:  # several new slots at once (FLUID's decoder): the first `at` cached, then themselves
            a = F.scaled_dot_product_attention(q, torch.cat([cache["k"][:, :, :at], k], 2),
                                               torch.cat([cache["v"][:, :, :at], v], 2), attn_mask=mask)
            cache["new_k"], cache["new_v"] = k, v  # the caller keeps the rows' verified slots
        else:
            cache["k"][:, :, at : at + 1], cache["v"][:, :, at : at + 1] = k, v
            a = F.scaled_dot_product_attention(q, cache["k"][:, :, : at + 1], cache["v"][:, :, : at + 1])
        # residual dropout (training only): sampling and scoring run in eval mode
        h = h + F.dropout(self.proj(a.transpose(1, 2).reshape(h.shape)), self.dropout, self.training)
        return h + F.dropout(self.mlp(self.norm2(h)), self.dropout, self.training)


class CausalLM(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int, *, width: int = 96, depth: int = 4, heads: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        self.vocab_size, self.seq_len, self.width, self.heads = vocab_size, seq_len, width, heads
        self.bos = vocab_size
        self.sample_shape = (seq_len,)
        self.embed = nn.Embedding(vocab_size + 1, width)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(seq_len, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, tokens: torch.Tensor, cache: list[dict] | None = None, at: int = 0, *,
                positions: torch.Tensor | None = None, attend: torch.Tensor | None = None):  # noqa: ANN201
        """Without a cache: next-token logits [n, L, V] for windows `tokens` [n, L]. With one
        (`new_cache`): one decoding step, the logits [n, V] of position `at` given `tokens` [n],
        the token at `at - 1` (BOS for at = 0); the earlier positions come from the cache. (One
        entry point, so the cost ledger, which watches `forward`, sees every step.) With a cache
        and `attend` [n, 1, Q, at + Q]: several positions per row at once (speculative decoding's
        verification, `fluid/decoder.py`): inputs `tokens` [n, Q] at `positions` [n, Q]; returns
        (logits [n, Q, V], final hidden states), their keys and values left in the cache entries."""
        if cache is not None and attend is not None:
            h = self.embed(tokens.long()) + self.position[positions]
            for block, layer_cache in zip(self.blocks, cache, strict=True):
                h = block(h, layer_cache, at, mask=attend)
            hidden = self.norm(h)
            return self.head(hidden), hidden
        if cache is not None:
            h = self.embed(tokens.long()).unsqueeze(1) + self.position[at]
            for block, layer_cache in zip(self.blocks, cache, strict=True):
                h = block(h, layer_cache, at)
            return self.head(self.norm(h))[:, 0]
        inputs = torch.cat([torch.full_like(tokens[:, :1], self.bos), tokens[:, :-1]], dim=1).long()
        h = self.embed(inputs) + self.position[: inputs.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))

    def new_cache(self, n: int, *, device: torch.device, dtype: torch.dtype) -> list[dict]:
        shape = (n, self.heads, self.seq_len + 1, self.width // self.heads)  # + a spare slot padding may write
        return [{"k": torch.zeros(shape, device=device, dtype=dtype), "v": torch.zeros(shape, device=device, dtype=dtype)}
                for _ in self.blocks]

    def step(self, previous: torch.Tensor, at: int, cache: list[dict]) -> torch.Tensor:
        """`forward` with a cache: the logits [n, V] of position `at`."""
        return self(previous, cache, at)
