"""The FLUID model: the autoregressive backbone (`nets/causal.py`) with one more token, [MASK],
so that a pass can also predict the tokens after the next one (lightning_modules/fluid/layout.py).
Real slots attend exactly as in the backbone, so its autoregressive predictions are the
backbone's own until training moves the shared weights."""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.fluid.layout import Layout
from lightning_modules.nets.causal import CausalLM


class FluidLM(CausalLM):
    def __init__(self, vocab_size: int, seq_len: int, *, width: int = 96, depth: int = 4, heads: int = 4,
                 bidirectional: bool = False) -> None:
        super().__init__(vocab_size, seq_len, width=width, depth=depth, heads=heads)
        self.mask_id = vocab_size + 1
        self.bidirectional = bool(bidirectional)  # a block's masks see each other (layout.py's ablation)
        self.embed = nn.Embedding(vocab_size + 2, width)

    @classmethod
    def adapted_from(cls, ar: CausalLM, bidirectional: bool = False) -> FluidLM:
        """The backbone's weights; the [MASK] embedding starts at the mean of the characters'."""
        net = cls(ar.vocab_size, ar.seq_len, width=ar.width, depth=len(ar.blocks), heads=ar.heads,
                  bidirectional=bidirectional)
        with torch.no_grad():
            net.embed.weight[: ar.vocab_size + 1].copy_(ar.embed.weight)
            net.embed.weight[net.mask_id].copy_(ar.embed.weight[: ar.vocab_size].mean(0))
            net.position.copy_(ar.position)
        for name in ("blocks", "norm", "head"):
            getattr(net, name).load_state_dict(getattr(ar, name).state_dict())
        return net

    def forward(self, x: torch.Tensor, layout: Layout | None = None, **cached):  # noqa: ANN003, ANN201
        """Without a layout: the backbone's forward (`CausalLM.forward`: whole windows, or the
        decoder's cached passes, where masks are tokens like any other). With one: x holds the
        layout's inputs [n, S]; logits [n, S, V] of every slot."""
        if layout is None:
            return super().forward(x, **cached)
        h = self.embed(x.long()) + self.position[layout.position.to(x.device)]
        for block in self.blocks:
            h = block(h, mask=layout.attend.to(x.device))
        return self.head(self.norm(h))
