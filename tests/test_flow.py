"""FlowMatching: the loss recomputed by hand, pairings against brute force, EMA and NaN guard."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from lightning_modules.continuous.flow import FlowMatching
from lightning_modules.continuous.pairing import minibatch_ot, nearest, pair
from lightning_modules.core.training import fit
from lightning_modules.data.toy import RandomBatches, make_toy
from lightning_modules.nets.mlp import VelocityMLP

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_net(conditioned: bool = False, seed: int = 0) -> VelocityMLP:
    torch.manual_seed(seed)
    return VelocityMLP(dim=2, hidden=16, depth=2, time_freqs=4, t0_conditioned=conditioned)


def data(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x1 = make_toy("moons", n, seed)
    draft = x1 + 0.3 * torch.randn(n, 2, generator=g)
    return draft, x1


class ZeroNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dim = 2
        self.weight = nn.Parameter(torch.zeros(1))  # so an optimiser has something

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | None = None
    ) -> torch.Tensor:
        return torch.zeros_like(x) + 0 * self.weight


def test_zero_net_noise_loss_is_mean_squared_target() -> None:
    _, x1 = data()
    module = FlowMatching(ZeroNet(), mode="noise")
    torch.manual_seed(123)
    loss = module.loss((x1,))
    torch.manual_seed(123)
    e = torch.randn_like(x1)
    want = (x1 - e).pow(2).sum(dim=1).mean()
    torch.testing.assert_close(loss, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("pairing", ["independent", "minibatch_ot"])
def test_noise_loss_recomputed(pairing: str) -> None:
    _, x1 = data()
    net = tiny_net()
    module = FlowMatching(net, mode="noise", pairing=pairing)
    torch.manual_seed(7)
    loss = module.loss((x1,))
    torch.manual_seed(7)
    e = torch.randn_like(x1)
    y = minibatch_ot(e, x1) if pairing == "minibatch_ot" else x1
    t = torch.rand(x1.shape[0])
    x_t = (1 - t[:, None]) * e + t[:, None] * y
    with torch.no_grad():
        want = (net(x_t, t) - (y - e)).pow(2).sum(dim=1).mean()
    torch.testing.assert_close(loss.detach(), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("start", ["draft", "noised"])
@pytest.mark.parametrize("t0", [0.0, 0.3, 0.8])
def test_warm_loss_recomputed(start: str, t0: float) -> None:
    draft, x1 = data()
    net = tiny_net()
    module = FlowMatching(net, mode="warm", start=start, t0=t0)
    torch.manual_seed(11)
    loss = module.loss((draft, x1))
    torch.manual_seed(11)
    e = torch.randn_like(draft)
    x_t0 = draft if start == "draft" else t0 * draft + (1 - t0) * e
    t = t0 + (1 - t0) * torch.rand(x1.shape[0])
    x_t = ((1 - t[:, None]) * x_t0 + (t[:, None] - t0) * x1) / (1 - t0)
    u = (x1 - x_t0) / (1 - t0)
    with torch.no_grad():
        # Weighted by (1 - t0)^2 (the error of the implied x1 = x_t0 + (1 - t0) v).
        want = ((1 - t0) ** 2 * (net(x_t, t) - u).pow(2).sum(dim=1)).mean()
    torch.testing.assert_close(loss.detach(), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("t0", [0.0, 0.5, 0.9])
def test_zero_net_draft_loss_is_mean_squared_gap(t0: float) -> None:
    """With v = 0 the weighted loss is mean ||x1 - d||^2 whatever t0 and t: no RNG involved."""
    draft, x1 = data()
    module = FlowMatching(ZeroNet(), mode="warm", start="draft", t0=t0)
    want = (x1 - draft).pow(2).sum(dim=1).mean()
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.testing.assert_close(module.loss((draft, x1)), want, rtol=1e-5, atol=0)


def test_conditioned_warm_loss_draws_t0_from_range() -> None:
    draft, x1 = data()
    net = tiny_net(conditioned=True)
    module = FlowMatching(net, mode="warm", start="noised", t0_range=(0.2, 0.6))
    torch.manual_seed(3)
    loss = module.loss((draft, x1))
    torch.manual_seed(3)
    n = x1.shape[0]
    t0 = 0.2 + 0.4 * torch.rand(n)
    e = torch.randn_like(draft)
    x_t0 = t0[:, None] * draft + (1 - t0[:, None]) * e
    t = t0 + (1 - t0) * torch.rand(n)
    x_t = ((1 - t[:, None]) * x_t0 + (t - t0)[:, None] * x1) / (1 - t0[:, None])
    u = (x1 - x_t0) / (1 - t0[:, None])
    with torch.no_grad():
        want = ((1 - t0) ** 2 * (net(x_t, t, t0) - u).pow(2).sum(dim=1)).mean()
    torch.testing.assert_close(loss.detach(), want, rtol=1e-5, atol=1e-7)


def test_bad_mode_and_pairing_are_errors() -> None:
    with pytest.raises(ValueError, match="allowed: noise, warm"):
        FlowMatching(tiny_net(), mode="sdedit")
    module = FlowMatching(tiny_net(), mode="noise", pairing="hungarian")
    with pytest.raises(ValueError, match="allowed: independent, minibatch_ot, nearest"):
        module.loss((data()[1],))


# --- pairings --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_minibatch_ot_is_the_brute_force_optimum(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(5, 2, generator=g)
    target = 2 * torch.randn(5, 2, generator=g) + 1
    paired = minibatch_ot(source, target)
    # A permutation of the data rows...
    idx = torch.cdist(paired, target).argmin(dim=1)
    assert sorted(idx.tolist()) == list(range(5))
    torch.testing.assert_close(paired, target[idx], rtol=0, atol=0)
    # ...with the least total squared cost of all 120.
    cost = torch.cdist(source.double(), target.double()).pow(2)
    best = min(
        sum(float(cost[i, p[i]]) for i in range(5)) for p in itertools.permutations(range(5))
    )
    got = float((source.double() - paired.double()).pow(2).sum())
    assert got == pytest.approx(best, rel=1e-9)
    assert torch.equal(pair("minibatch_ot", source, target), paired)


def test_minibatch_ot_identity_when_already_sorted() -> None:
    source = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    target = torch.tensor([[0.0, 9.0], [1.0, 1.0], [9.0, 1.0]])
    torch.testing.assert_close(minibatch_ot(source, target), target[[1, 2, 0]], rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [3, 4096])
def test_nearest_returns_the_nearest_pool_row(chunk: int) -> None:
    g = torch.Generator().manual_seed(0)
    source = torch.randn(10, 2, generator=g)
    pool = torch.randn(40, 2, generator=g)
    got = nearest(source, pool, chunk=chunk)
    for i in range(10):
        dists = [float((source[i] - pool[j]).pow(2).sum()) for j in range(40)]
        torch.testing.assert_close(
            got[i], pool[min(range(40), key=dists.__getitem__)], rtol=0, atol=0
        )
    # A pool row paired with itself.
    torch.testing.assert_close(nearest(pool[:5], pool, chunk=chunk), pool[:5], rtol=0, atol=0)


def test_independent_and_nearest_pass_through() -> None:
    source, target = data(8)
    assert pair("independent", source, target) is target
    assert pair("nearest", source, target) is target


# --- training --------------------------------------------------------------------------


def test_short_fit_updates_net_and_ema() -> None:
    net = tiny_net()
    before = [p.detach().clone() for p in net.parameters()]
    module = FlowMatching(net, mode="noise", lr=1e-2, ema_decay=0.9, max_steps=30)
    batches = RandomBatches(make_toy("moons", 512, 0), batch_size=64, seed=0)
    result = fit(module, batches, max_steps=30, seed=0)
    assert result["steps"] == 30
    assert result["final_loss"] is not None and result["final_loss"] == result["final_loss"]
    assert int(module.ema.n_averaged) == 30
    raw, ema = module.sampling_net(use_ema=False), module.sampling_net()
    assert raw is net and ema is not net
    assert any(not torch.equal(a, b) for a, b in zip(before, raw.parameters(), strict=True))
    assert any(
        not torch.allclose(a, b) for a, b in zip(raw.parameters(), ema.parameters(), strict=True)
    )
    # EMA of parameters that moved: it lags the raw weights but has left the initial ones.
    assert any(not torch.allclose(a, b) for a, b in zip(before, ema.parameters(), strict=True))
    x, t = torch.randn(8, 2), torch.rand(8)
    with torch.no_grad():
        assert not torch.allclose(raw(x, t), ema(x, t))


class NaNNet(ZeroNet):
    def forward(
        self, x: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | None = None
    ) -> torch.Tensor:
        return torch.full_like(x, float("nan")) + 0 * self.weight


@pytest.mark.parametrize("mode", ["noise", "warm"])
def test_nan_loss_raises_floating_point_error(mode: str) -> None:
    draft, x1 = data(16)
    module = FlowMatching(NaNNet(), mode=mode, t0=0.5)
    batch = (x1,) if mode == "noise" else (draft, x1)
    with pytest.raises(FloatingPointError, match="non-finite training loss nan"):
        module.training_step(batch, 0)


def test_nan_loss_stops_fit() -> None:
    module = FlowMatching(NaNNet(), mode="noise", max_steps=5)
    with pytest.raises(FloatingPointError):
        fit(
            module,
            RandomBatches(make_toy("moons", 64, 0), batch_size=16, seed=0),
            max_steps=5,
            seed=0,
        )
