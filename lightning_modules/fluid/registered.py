"""The FLUID family's registrations (arXiv 2605.27387): the model `fluid`, the substrate's
autoregressive model after stage I (lightning_modules/fluid/models.py). Its decoding methods
come with stage II (issue 34)."""

from __future__ import annotations

from lightning_modules.core.registry import register_model
from lightning_modules.fluid import models


def _effort(cfg) -> float:  # noqa: ANN001
    """Training cost in 4 x 96 MDLM steps: a window grows by about share x (k_max + 1) / 2 masks
    per real slot, and attention with it."""
    s = cfg.substrate[models.FLUID]
    return float(s.steps) * (1.0 + s.share * (s.k_max + 1) / 2.0)


register_model(models.FLUID, spec=models.fluid_spec, build=models.build_fluid, train=models.train_fluid,
               after=("ar",), seed=lambda cfg: int(cfg.substrate[models.FLUID].seed), effort=_effort,
               measure=models.measure_fluid, knobs=models.KNOBS, config=f"substrate.{models.FLUID}", ship=True)
