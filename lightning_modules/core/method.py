"""The Method interface (two stages, draft then refine) and the batch it returns; shared by the
continuous methods (`methods.py`) and the text methods (`methods_text.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class SampleBatch:
    """Samples [n, *shape], the drafts they started from (or None) and the counted cost."""

    samples: torch.Tensor
    drafts: torch.Tensor | None
    nfe: float
    cost: dict = field(default_factory=dict)


class Method:
    """Two stages, so their costs can be measured apart: `draft` then `refine`."""

    name = "method"
    needs: tuple[str, ...] = ()

    def draft(self, n: int, seed: int) -> torch.Tensor | None:
        return None

    def refine(self, drafts: torch.Tensor | None, n: int, seed: int) -> tuple[torch.Tensor, float]:
        """Samples and NFE per trajectory (counted by wrapping the net)."""
        raise NotImplementedError

    @torch.inference_mode()
    def generate(self, n: int, seed: int) -> SampleBatch:
        drafts = self.draft(n, seed)
        samples, nfe = self.refine(drafts, n, seed)
        return SampleBatch(samples=samples, drafts=drafts, nfe=nfe)
