"""Methods: construction by name, counted NFE, per-sample seeds, start states, cost keys."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_modules.continuous.methods import DrafterOnly, NoiseStart, SDEdit, WarmStart
from lightning_modules.core import seeding
from lightning_modules.core.cost import measure
from lightning_modules.core.method import SampleBatch
from lightning_modules.core.registry import METHODS, build_method
from lightning_modules.data.toy import make_toy
from lightning_modules.drafters.gmm import GMMDrafter
from lightning_modules.nets.mlp import VelocityMLP

HIDDEN, DEPTH, FREQS = 16, 2, 4
NFE_PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    drafter = GMMDrafter.fit(make_toy("moons", 1000, 0), n_components=4, seed=0)
    noise_model = VelocityMLP(dim=2, hidden=HIDDEN, depth=DEPTH, time_freqs=FREQS).eval()
    refiner = VelocityMLP(
        dim=2, hidden=HIDDEN, depth=DEPTH, time_freqs=FREQS, t0_conditioned=True
    ).eval()
    return {"drafter": drafter, "noise_model": noise_model, "refiner": refiner}


class ConstantNet(nn.Module):
    """v = c everywhere; records the (t, t0) it was called with."""

    def __init__(self, c: tuple[float, float] = (0.0, 0.0), t0_conditioned: bool = False) -> None:
        super().__init__()
        self.dim = 2
        self.sample_shape = (2,)
        self.t0_conditioned = t0_conditioned
        self.c = torch.tensor(c)
        self.seen_t: list[torch.Tensor] = []
        self.seen_t0: list[torch.Tensor] = []

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, t0: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.seen_t.append(t.clone())
        if t0 is not None:
            self.seen_t0.append(t0.clone())
        return self.c.to(x).expand_as(x).clone()


def knobs_for(name: str, t0: float, steps: int, solver: str) -> dict:
    return {"t0": t0, "steps": steps, "solver": solver, "start": "noised"}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("noise_start", NoiseStart),
        ("warm_start", WarmStart),
        ("sdedit", SDEdit),
        ("drafter_only", DrafterOnly),
    ],
)
def test_build_method_by_name(models, name: str, cls: type) -> None:  # noqa: ANN001
    method = build_method(name, models, knobs_for(name, 0.5, 3, "heun"))
    assert type(method) is cls and method.name == name
    if name != "drafter_only":
        assert method.steps == 3 and method.solver == "heun"
        assert method.t0 == (0.0 if name == "noise_start" else 0.5)
        assert method.net is (models["refiner"] if name == "warm_start" else models["noise_model"])
    # the package's own (a plugin file another test loaded may have added its methods)
    assert {n for n, s in METHODS.items() if s.source.startswith("lightning_modules.")} == {"noise_start", "warm_start", "sdedit", "drafter_only", "masked_dfm", "ws_dfm",
                                    "mdlm", "autoregressive", "scheduled", "fp_mdlm", "cofre", "fluid", "speculative"}


@pytest.mark.parametrize("name", ["noise_start", "warm_start", "sdedit"])
@pytest.mark.parametrize("solver", ["euler", "midpoint", "heun"])
@pytest.mark.parametrize("t0", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("steps", [1, 3])
def test_generate_counts_nfe(models, name: str, solver: str, t0: float, steps: int) -> None:  # noqa: ANN001
    method = build_method(name, models, knobs_for(name, t0, steps, solver))
    batch = method.generate(12, seed=1)
    assert isinstance(batch, SampleBatch)
    assert batch.samples.shape == (12, 2) and batch.samples.dtype == torch.float32
    assert bool(torch.isfinite(batch.samples).all())
    assert batch.nfe == NFE_PER_STEP[solver] * steps
    if name == "noise_start":
        assert batch.drafts is None
    else:
        assert batch.drafts.shape == (12, 2)


def test_nfe_counted_across_chunks(models) -> None:  # noqa: ANN001
    method = WarmStart(
        models["refiner"], models["drafter"], t0=0.3, steps=4, solver="heun", chunk=5
    )
    chunked = method.generate(16, seed=2)
    whole = WarmStart(
        models["refiner"], models["drafter"], t0=0.3, steps=4, solver="heun"
    ).generate(16, seed=2)
    assert chunked.nfe == whole.nfe == 8
    torch.testing.assert_close(chunked.samples, whole.samples, rtol=0, atol=1e-5)


def test_dopri5_nfe_is_counted_not_configured(models) -> None:  # noqa: ANN001
    method = build_method(
        "noise_start", models, {"steps": 1, "solver": "dopri5", "rtol": 1e-3, "atol": 1e-3}
    )
    batch = method.generate(8, seed=0)
    assert batch.nfe >= 6 and batch.nfe != 1
    assert batch.nfe == int(batch.nfe)


def test_drafter_only_is_the_drafts(models) -> None:  # noqa: ANN001
    batch = build_method("drafter_only", models, {}).generate(20, seed=4)
    assert batch.nfe == 0
    torch.testing.assert_close(batch.samples, batch.drafts, rtol=0, atol=0)
    torch.testing.assert_close(batch.samples, models["drafter"].sample(20, seed=4), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["noise_start", "warm_start", "sdedit", "drafter_only"])
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_samples_do_not_depend_on_batch_size(models, name: str, solver: str) -> None:  # noqa: ANN001
    method = build_method(name, models, knobs_for(name, 0.4, 3, solver))
    small = method.generate(16, seed=3)
    large = method.generate(64, seed=3)
    torch.testing.assert_close(large.samples[:16], small.samples, rtol=0, atol=1e-5)
    if small.drafts is not None:
        torch.testing.assert_close(large.drafts[:16], small.drafts, rtol=0, atol=0)
    other = method.generate(16, seed=4)
    assert not torch.allclose(other.samples, small.samples)


def test_warm_start_and_sdedit_see_the_same_drafts_and_noise(models) -> None:  # noqa: ANN001
    knobs = knobs_for("", 0.5, 2, "euler")
    warm = build_method("warm_start", models, knobs).generate(24, seed=5)
    sde = build_method("sdedit", models, knobs).generate(24, seed=5)
    torch.testing.assert_close(warm.drafts, sde.drafts, rtol=0, atol=0)
    # Given the same (non-conditioned) net, `noised` warm start is SDEdit exactly.
    same_net = {**models, "refiner": models["noise_model"]}
    warm_same = build_method("warm_start", same_net, knobs).generate(24, seed=5)
    torch.testing.assert_close(warm_same.samples, sde.samples, rtol=0, atol=0)


@pytest.mark.parametrize("t0", [0.0, 0.25, 0.8])
@pytest.mark.parametrize("start", ["draft", "noised"])
def test_warm_start_state_and_constant_field(models, t0: float, start: str) -> None:  # noqa: ANN001
    """With v = c the sample is x_t0 + (1 - t0) c, x_t0 built from the draft and the `noise` stream."""
    c = (0.5, -1.0)
    net = ConstantNet(c)
    batch = WarmStart(
        net, models["drafter"], t0=t0, steps=4, start=start, solver="midpoint"
    ).generate(10, seed=6)
    d = models["drafter"].sample(10, seed=6)
    e = seeding.randn(10, 2, seed=6, stream="noise")
    x_t0 = d if start == "draft" else t0 * d + (1 - t0) * e
    torch.testing.assert_close(
        batch.samples, x_t0 + (1 - t0) * torch.tensor(c), rtol=1e-6, atol=1e-6
    )
    # The net saw the grid's times from t0 (first call) to below 1, per sample.
    assert float(net.seen_t[0][0]) == pytest.approx(t0)
    assert all(t.shape == (10,) for t in net.seen_t)
    assert max(float(t.max()) for t in net.seen_t) < 1.0


def test_noise_start_begins_at_noise(models) -> None:  # noqa: ANN001
    net = ConstantNet((1.0, 2.0))
    batch = NoiseStart(net, steps=3, solver="euler").generate(6, seed=8)
    e = seeding.randn(6, 2, seed=8, stream="noise")
    torch.testing.assert_close(batch.samples, e + torch.tensor([1.0, 2.0]), rtol=1e-6, atol=1e-6)
    assert float(net.seen_t[0][0]) == 0.0


@pytest.mark.parametrize("t0", [0.2, 0.7])
def test_t0_conditioned_refiner_receives_t0(models, t0: float) -> None:  # noqa: ANN001
    net = ConstantNet(t0_conditioned=True)
    batch = build_method(
        "warm_start", {**models, "refiner": net}, knobs_for("", t0, 3, "heun")
    ).generate(5, seed=0)
    assert batch.nfe == 6
    assert len(net.seen_t0) == 6
    for seen in net.seen_t0:
        torch.testing.assert_close(seen, torch.full((5,), t0))
    # And the real conditioned MLP refuses to run without t0.
    with pytest.raises(ValueError, match="t0-conditioned"):
        models["refiner"](torch.zeros(2, 2), torch.zeros(2))


@pytest.mark.parametrize("name", ["ws", "noise-start", "", "WarmStart"])
def test_unknown_method_lists_names(models, name: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError) as err:
        build_method(name, models, {"steps": 2})
    listed = str(err.value).split("one of ", 1)[1].split(" (")[0].split(", ")
    # every built-in method, in name order (a plugin another test loaded may add its own)
    builtin = ["autoregressive", "drafter_only", "masked_dfm", "mdlm", "noise_start", "scheduled", "sdedit",
               "warm_start", "ws_dfm"]
    assert [m for m in listed if m in builtin] == builtin and listed == sorted(listed)


@pytest.mark.parametrize(
    ("name", "drop", "missing"),
    [
        ("noise_start", "noise_model", "noise_model"),
        ("warm_start", "refiner", "refiner"),
        ("warm_start", "drafter", "drafter"),
        ("sdedit", "noise_model", "noise_model"),
        ("drafter_only", "drafter", "drafter"),
    ],
)
def test_missing_model_is_an_error(models, name: str, drop: str, missing: str) -> None:  # noqa: ANN001
    partial = {k: v for k, v in models.items() if k != drop}
    with pytest.raises(ValueError, match=f"'{name}' needs trained models .*'{missing}'"):
        build_method(name, partial, knobs_for(name, 0.5, 2, "euler"))


def test_ledger_flops_closed_form(models) -> None:  # noqa: ANN001
    # Linear layers only: 2 * in * out per sample; inputs are x (2) plus 2 * FREQS time features.
    n_in = 2 + 2 * FREQS
    want = 2 * (n_in * HIDDEN + HIDDEN * HIDDEN + HIDDEN * 2)
    cost = measure(build_method("noise_start", models, knobs_for("noise_start", 0.5, 3, "euler")), 8, 0,
                   repeats=1).cost
    assert cost["networks"]["noise_model"]["flops_per_eval"] == want
    n_in_cond = 2 + 4 * FREQS
    want_cond = 2 * (n_in_cond * HIDDEN + HIDDEN * HIDDEN + HIDDEN * 2)
    cost = measure(build_method("warm_start", models, knobs_for("warm_start", 0.5, 2, "euler")), 8, 0,
                   repeats=1).cost
    assert cost["networks"]["refiner"]["flops_per_eval"] == want_cond


COST_KEYS = {
    "nfe", "evals", "networks", "largest_network", "drafter", "drafter_nfe_equiv", "flops", "flops_counted",
    "wallclock_s", "drafter_s", "refiner_s", "peak_mem_bytes", "peak_mem_scope", "timing_repeats",
}


@pytest.mark.parametrize(
    ("name", "solver", "steps", "evals"),
    [
        ("noise_start", "euler", 3, 3),
        ("warm_start", "heun", 2, 4),
        ("sdedit", "midpoint", 2, 4),
        ("drafter_only", "euler", 1, 0),
    ],
)
def test_measure_fills_cost(models, name: str, solver: str, steps: int, evals: int) -> None:  # noqa: ANN001
    method = build_method(name, models, knobs_for(name, 0.5, steps, solver))
    batch = measure(method, 32, seed=0, repeats=2, flop_n=16)
    cost = batch.cost
    assert COST_KEYS <= set(cost)
    assert cost["evals"] == batch.nfe == evals
    net_flops = sum(v["flops_per_sample"] for v in cost["networks"].values())
    assert cost["flops"] == pytest.approx(net_flops + cost["drafter_flops"], rel=1e-12)
    if name == "noise_start":
        assert cost["drafter"] is None and cost["drafter_flops"] == 0 and cost["drafter_nfe_equiv"] == 0
        assert cost["nfe"] == evals
    else:
        # GMM draft: one [2, 2] x [2, 1] product per sample = 8 FLOPs; it says what else it does.
        assert cost["drafter_flops"] == pytest.approx(8.0)
        assert "random draws" in cost["drafter"]["work"]
    if name == "drafter_only":
        assert cost["networks"] == {} and cost["nfe"] == 1.0  # one pass of its only network
    elif name != "noise_start":
        (net,) = cost["networks"].values()
        assert net["evals_per_sample"] == evals
        assert cost["drafter_nfe_equiv"] == pytest.approx(8.0 / net["flops_per_eval"])
        assert cost["nfe"] == pytest.approx(evals + cost["drafter_nfe_equiv"])  # the drafter is on the axis
    assert cost["wallclock_s"] > 0 and cost["drafter_s"] >= 0 and cost["refiner_s"] >= 0
    assert isinstance(cost["peak_mem_bytes"], int) and cost["peak_mem_bytes"] > 0
    assert cost["peak_mem_scope"] == "trial"
    # The measured batch is the seed's batch.
    torch.testing.assert_close(batch.samples, method.generate(32, seed=0).samples, rtol=0, atol=0)


def test_build_method_names_a_missing_knob():
    import pytest

    with pytest.raises(ValueError, match=r"needs knobs \['t0'\]"):
        build_method("warm_start", {"refiner": torch.nn.Identity(), "drafter": torch.nn.Identity()}, {"steps": 2})


def test_wallclock_total_is_the_median_of_whole_runs(monkeypatch) -> None:
    """Scripted durations (seconds) on a fake clock: drafts 0, 3, 1 and refines 3, 0, 1 give
    whole runs of 3, 3, 2 (median 3), where median(draft) + median(refine) would say 2."""
    from lightning_modules.core import cost as cost_mod
    from lightning_modules.core.method import Method

    clock = [0.0]
    durations = iter([0.0, 0.0, 0.0, 3.0, 3.0, 0.0, 1.0, 1.0])  # warm-up (draft, refine), then 3 runs

    class Scripted(Method):
        def draft(self, n, seed):  # noqa: ANN001, ANN201
            clock[0] += next(durations)
            return None

        def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
            clock[0] += next(durations)
            return torch.zeros(n, 2), 1.0

    monkeypatch.setattr(cost_mod.time, "perf_counter", lambda: clock[0])
    batch = measure(Scripted(), 4, 0, repeats=3)
    assert batch.cost["wallclock_s"] == 3.0
    assert batch.cost["drafter_s"] == 1.0 and batch.cost["refiner_s"] == 1.0
