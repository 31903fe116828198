"""Discrete mixture paths and the discrete samplers: closed forms and exact NFE."""

import pytest
import torch

from lightning_modules.continuous.solvers import time_grid
from lightning_modules.discrete.mixture import (
    CountingDenoiser,
    discrete_euler,
    discrete_sample,
    mixture_state,
    path_progress,
    source_state,
)

V, MASK = 5, 5


def _oracle(x1: torch.Tensor, seen: list | None = None):
    """A denoiser that knows x1 (logits +50 on the true token); optionally records its inputs."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if seen is not None:
            seen.append((x.clone(), float(t[0])))
        return torch.nn.functional.one_hot(x1[: x.shape[0]], V).double() * 50.0

    return denoise


def _uniforms(n: int, steps: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, steps, length, generator=g), torch.rand(n, steps, length, generator=g)


T0S = [0.0, 0.5, 0.8, 0.9, 0.95, 0.8999999999, 1 - 1e-7]
STEPS = [1, 2, 3, 4, 8, 16, 64]


@pytest.mark.parametrize("sampler", ["euler", "ancestral"])
@pytest.mark.parametrize("t0", T0S)
@pytest.mark.parametrize("steps", STEPS)
def test_nfe_is_exactly_steps_and_the_oracle_is_reproduced(t0, steps, sampler):
    n, length = 6, 7
    x1 = torch.randint(0, V, (n, length), generator=torch.Generator().manual_seed(1))
    counter = CountingDenoiser(_oracle(x1))
    jump_u, token_u = _uniforms(n, steps, length)
    start = torch.full_like(x1, MASK)
    out = discrete_sample(counter, start, t0, steps, jump_u=jump_u, token_u=token_u, sampler=sampler)
    assert counter.nfe(n) == steps == len(time_grid(t0, steps)) - 1
    assert torch.equal(out, x1)  # the last step jumps everywhere, to the denoiser's token


@pytest.mark.parametrize("t0", T0S[1:])
@pytest.mark.parametrize("steps", STEPS)
def test_text_methods_report_the_counted_nfe(t0, steps):
    """Through `generate`, as a trial measures it: the wrapped denoiser's count, not the config."""
    from lightning_modules.discrete.methods import MaskedDFM, WarmStartDFM
    from lightning_modules.drafters import NGramDrafter

    class Net(torch.nn.Module):
        mask_id, seq_len, t0_conditioned = MASK, 4, False

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x, t):  # noqa: ANN001, ANN202
            self.calls += 1
            return torch.zeros(*x.shape, V)

    drafter = NGramDrafter.fit(torch.randint(0, V, (200,), generator=torch.Generator().manual_seed(0)), V, 4, 2)
    for method in (MaskedDFM(Net(), steps=steps, chunk=2), WarmStartDFM(Net(), drafter, t0=t0, steps=steps, chunk=2)):
        batch = method.generate(5, seed=0)  # chunks of 2: 3 calls per step, still `steps` per sample
        assert batch.nfe == steps and method.net.calls == 3 * steps


def test_sampler_states_follow_the_mixture_marginal():
    n, length, steps, t0 = 4000, 16, 4, 0.6
    x1 = torch.randint(0, V, (n, length), generator=torch.Generator().manual_seed(2))
    seen = []
    jump_u, token_u = _uniforms(n, steps, length, seed=3)
    discrete_euler(_oracle(x1, seen), torch.full_like(x1, MASK), t0, steps, jump_u=jump_u, token_u=token_u)
    for x, t in seen:  # the state the denoiser sees at grid time t holds the data token w.p. s(t)
        frac = (x == x1).double().mean().item()
        assert frac == pytest.approx(float(path_progress(t, t0)), abs=0.01)


def test_draft_tokens_can_be_rewritten():
    n, length = 50, 8
    x1 = torch.zeros(n, length, dtype=torch.long)
    draft = torch.ones(n, length, dtype=torch.long)  # every draft token is wrong
    jump_u, token_u = _uniforms(n, 2, length)
    out = discrete_euler(_oracle(x1), draft, 0.9, 2, jump_u=jump_u, token_u=token_u)
    assert torch.equal(out, x1)


def test_source_states_and_mixture_state_closed_forms():
    g = torch.Generator().manual_seed(0)
    draft = torch.randint(0, V, (2000, 32), generator=g)
    u = torch.rand(draft.shape, generator=g)
    assert (source_state(draft, mask_id=MASK, t0=0.0, start=None, u=u) == MASK).all()
    assert torch.equal(source_state(draft, mask_id=MASK, t0=0.7, start="draft", u=u), draft)
    noised = source_state(draft, mask_id=MASK, t0=0.7, start="noised", u=u)
    assert (noised == MASK).double().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(noised[noised != MASK], draft[noised != MASK])
    x1 = (draft + 1) % V
    x_t = mixture_state(draft, x1, torch.tensor(0.25), torch.rand(draft.shape, generator=g))
    assert (x_t == x1).double().mean().item() == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError, match="unknown start"):
        source_state(draft, mask_id=MASK, t0=0.7, start="bogus", u=u)
