"""A user's own sampler, kept outside the package and loaded with `plugin=conf/plugins/warped_grid.py`:
noise-start flow matching on a power-warped time grid, t_i = 1 - (1 - i / steps) ** gamma.

gamma > 1 spends the steps early (near the noise end), gamma < 1 late, gamma = 1 is the uniform
grid of `noise_start`. Its knob `gamma` is declared here, so validation, the sweep's table
columns and the records know it like any built-in knob:

    wsbench sweep experiment=smoke plugin=conf/plugins/warped_grid.py \
        '+sweep.arms.warped.set=[method=noise_start_warped,refiner.pairing=independent]' \
        '+sweep.arms.warped.space={method.steps: [1, 2, 4], method.gamma: [0.7, 1.5]}'
"""

import torch

from lightning_modules.continuous.methods import SOLVER, STEPS, NoiseStart
from lightning_modules.core.registry import CONTINUOUS, Knob, register_method

GAMMA = Knob("gamma", float, 1.5, low=0.1, high=10.0, help="grid warp: t_i = 1 - (1 - i / steps) ** gamma")


@register_method("noise_start_warped", needs=("noise_model",), role="method", t0="zero", kinds=CONTINUOUS,
                 knobs=(STEPS, SOLVER, GAMMA))
class WarpedNoiseStart(NoiseStart):
    """`noise_start` with the same trained model, integrated on a warped grid."""

    name = "noise_start_warped"

    def __init__(self, noise_model: torch.nn.Module, *, steps: int, solver: str = "euler", gamma: float = 1.5) -> None:
        super().__init__(noise_model, steps=steps, solver=solver)
        u = torch.linspace(0.0, 1.0, self.steps + 1, dtype=torch.float64)
        self.grid = 1.0 - (1.0 - u) ** float(gamma)  # explicit grid, exact ends 0 and 1
