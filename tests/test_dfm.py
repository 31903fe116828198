"""Discrete flow matching for text: denoiser, loss, masked / warm-start samplers, teacher forcing."""

import math

import pytest
import torch

from lightning_modules.core.registry import build_method
from lightning_modules.core.training import fit
from lightning_modules.data.toy import RandomBatches
from lightning_modules.discrete.dfm import DiscreteFlowMatching, dfm_loss
from lightning_modules.discrete.methods import MaskedDFM, WarmStartDFM
from lightning_modules.discrete.mixture import discrete_sample
from lightning_modules.drafters import LSTMDrafter, NGramDrafter
from lightning_modules.nets.transformer import TransformerDenoiser

V, L = 5, 12
MASK = V


class Oracle(torch.nn.Module):
    """A denoiser that puts logit `scale` on a fixed target sequence (or on its input)."""

    def __init__(self, target: torch.Tensor | None = None, scale: float = 50.0, *, copy: bool = False) -> None:
        super().__init__()
        self.target, self.scale, self.copy = target, scale, copy
        self.mask_id, self.seq_len, self.t0_conditioned = MASK, L, False

    def forward(self, x, t, t0=None):  # noqa: ANN001, ANN201
        ids = x.clamp_max(V - 1) if self.copy else self.target.expand(x.shape[0], -1)
        return torch.nn.functional.one_hot(ids, V).float() * self.scale


def test_denoiser_shapes_time_and_t0_conditioning():
    torch.manual_seed(0)
    net = TransformerDenoiser(V, L, width=16, depth=1, heads=2, time_freqs=4, t0_conditioned=True)
    x = torch.randint(0, V + 1, (3, L))
    t = torch.full((3,), 0.5)
    out = net(x, t, torch.full((3,), 0.6))
    assert out.shape == (3, L, V)  # [MASK] is an input, never an output
    assert not torch.allclose(out, net(x, t, torch.full((3,), 0.9)))
    assert not torch.allclose(out, net(x, torch.full((3,), 0.1), torch.full((3,), 0.6)))
    assert torch.equal(net(x.float(), t, torch.full((3,), 0.6)), out)  # FLOP counting feeds float zeros
    with pytest.raises(ValueError, match="multiple of refiner.net.heads"):
        TransformerDenoiser(V, L, width=10, heads=4)


def test_loss_is_log_v_for_a_uniform_denoiser_and_zero_for_the_oracle():
    torch.manual_seed(0)
    x1 = torch.randint(0, V, (64, L))
    draft = torch.randint(0, V, (64, L))
    t0 = torch.full((64,), 0.7, dtype=torch.float64)

    def uniform(x, t, t0=None):  # noqa: ANN001, ANN202
        return torch.zeros(*x.shape, V)

    assert dfm_loss(uniform, x1, mask_id=MASK) == pytest.approx(math.log(V), rel=1e-6)
    assert dfm_loss(uniform, x1, mask_id=MASK, draft=draft, t0=t0) == pytest.approx(math.log(V), rel=1e-6)
    oracle = Oracle()
    oracle.forward = lambda x, t, t0=None: torch.nn.functional.one_hot(x1, V).float() * 50  # noqa: ARG005
    assert dfm_loss(oracle, x1, mask_id=MASK) < 1e-6
    assert dfm_loss(oracle, x1, mask_id=MASK, draft=draft, t0=t0) < 1e-6


def test_masked_loss_counts_only_masked_positions_warm_loss_every_position():
    torch.manual_seed(0)
    x1 = torch.randint(0, V, (256, L))
    draft = (x1 + 1) % V  # every draft token is wrong
    copy = Oracle(copy=True)  # predicts its input: right on unmasked data, wrong on drafts
    # Masked path: unmasked tokens are data, so copying them costs nothing; masks are clamped
    # to token V - 1, right about 1/V of the time, so the loss sits far above zero.
    assert dfm_loss(copy, x1, mask_id=MASK) > 10
    # Warm path from wrong drafts: copying is wrong wherever the draft is still in place.
    t0 = torch.full((256,), 0.5, dtype=torch.float64)
    assert dfm_loss(copy, x1, mask_id=MASK, draft=draft, start="draft", t0=t0) > 10


def _fixed_noise_loss(module: DiscreteFlowMatching, batch: tuple) -> float:
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(1)
        return float(module.loss(batch))


def test_training_lowers_the_loss_of_both_modes(one_thread):
    torch.manual_seed(0)
    x1 = torch.arange(L).repeat(64, 1) % V  # one repeated pattern: learnable in a few steps
    drafts = torch.randint(0, V, (64, L))
    for mode, batch in (("noise", (x1,)), ("warm", (drafts, x1))):
        net = TransformerDenoiser(V, L, width=16, depth=1, heads=2, time_freqs=4, t0_conditioned=mode == "warm")
        module = DiscreteFlowMatching(net, mask_id=MASK, mode=mode, t0_range=(0.5, 0.9), lr=3e-3, max_steps=80)

        before = _fixed_noise_loss(module, batch)
        fit(module, RandomBatches(*batch, batch_size=16, seed=0), max_steps=80, seed=0)
        assert _fixed_noise_loss(module, batch) < 0.5 * before, mode


def test_masked_dfm_carries_unmasked_tokens_over_and_counts_nfe():
    target = torch.arange(L) % V
    method = MaskedDFM(Oracle(target), steps=4)
    x = torch.full((2, L), MASK)
    x[:, 3] = 0  # a known token that the oracle would rewrite to target[3] = 3
    logits = method.logits(x, torch.zeros(2))
    assert torch.equal(logits[:, 3].argmax(-1), torch.zeros(2, dtype=torch.long))
    assert torch.isinf(logits[:, 3, 1:]).all() and torch.equal(logits[:, 4], Oracle(target)(x, None)[:, 4])
    for steps in (1, 3, 7):
        samples, nfe = MaskedDFM(Oracle(target), steps=steps).refine(None, 5, seed=0)
        assert nfe == steps and torch.equal(samples, target.expand(5, -1))


def test_text_samples_depend_only_on_seed_and_index():
    torch.manual_seed(0)
    net = TransformerDenoiser(V, L, width=16, depth=1, heads=2, time_freqs=4).eval()
    drafter = NGramDrafter.fit(torch.randint(0, V, (2000,)), V, L, order=2)
    for method in (MaskedDFM(net, steps=3), WarmStartDFM(net, drafter, t0=0.6, steps=3)):
        big = method.generate(6, seed=4)
        small = method.generate(3, seed=4)
        assert torch.equal(big.samples[:3], small.samples)
        assert not torch.equal(method.generate(3, seed=5).samples, small.samples)
        assert (big.samples < V).all()  # no [MASK] survives the last step


def test_euler_ends_on_the_last_draw_ancestral_draws_each_token_once():
    """A denoiser proposing token i at call i: with Euler every position takes the last call's
    token (the last step jumps with probability 1); ancestral keeps each position's first
    draw, spread over the steps (uniform grid: probability 1/steps per step)."""
    steps, n = 4, 400

    class StepToken:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, x, t):  # noqa: ANN001, ANN204
            token = self.calls % V
            self.calls += 1
            return torch.nn.functional.one_hot(torch.full_like(x, token), V).float() * 50

    x0 = torch.full((n, L), MASK)
    u = torch.rand(n, steps, L, generator=torch.Generator().manual_seed(0))
    w = torch.rand(n, steps, L, generator=torch.Generator().manual_seed(1))
    euler = discrete_sample(StepToken(), x0, 0.0, steps, jump_u=u, token_u=w, sampler="euler")
    assert (euler == steps - 1).all()
    ancestral = discrete_sample(StepToken(), x0, 0.0, steps, jump_u=u, token_u=w, sampler="ancestral")
    share = torch.bincount(ancestral.flatten(), minlength=V)[:steps].double() / ancestral.numel()
    assert torch.allclose(share, torch.full((steps,), 1 / steps, dtype=torch.float64), atol=0.02)
    with pytest.raises(ValueError, match="allowed: euler, ancestral"):
        discrete_sample(StepToken(), x0, 0.0, steps, jump_u=u, token_u=w, sampler="heun")


def test_warm_start_noised_masks_one_minus_t0_of_the_draft():
    drafter = NGramDrafter.fit(torch.randint(0, V, (5000,)), V, L, order=1)
    method = WarmStartDFM(Oracle(torch.zeros(L, dtype=torch.long)), drafter, t0=0.7, steps=2)
    drafts = method.draft(500, seed=0)
    x = method.start_state(drafts, 500, seed=0)
    masked = x == MASK
    assert masked.double().mean() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(x[~masked], drafts[~masked])
    assert torch.equal(WarmStartDFM(method.net, drafter, t0=0.7, steps=2, start="draft").start_state(drafts, 500, 0),
                       drafts)


def test_build_method_text_knobs():
    net = Oracle(torch.zeros(L, dtype=torch.long))
    drafter = NGramDrafter.fit(torch.randint(0, V, (500,)), V, L, order=1)
    m = build_method("ws_dfm", {"refiner": net, "drafter": drafter}, {"t0": 0.8, "steps": 3, "solver": "ancestral"})
    assert isinstance(m, WarmStartDFM) and m.solver == "ancestral" and m.t0 == 0.8
    assert isinstance(build_method("masked_dfm", {"noise_model": net}, {"steps": 2}), MaskedDFM)
    with pytest.raises(ValueError, match=r"needs knobs \['t0'\]"):
        build_method("ws_dfm", {"refiner": net, "drafter": drafter}, {"steps": 3})


def test_teacher_forced_drafts_follow_the_data_where_the_model_is_sure():
    stream = torch.arange(3000) % V  # 0 1 2 3 4 0 1 ...: every context of length >= 1 is decisive
    x1 = (torch.arange(L) + torch.arange(7).unsqueeze(1)) % V
    tf = NGramDrafter.fit(stream, V, L, order=2).teacher_forced(x1, seed=0)
    assert torch.equal(tf[:, 1:], x1[:, 1:])  # position 0 has no context: a unigram draw
    assert tf.shape == x1.shape and (tf >= 0).all()
    shuffled = x1[:, torch.randperm(L, generator=torch.Generator().manual_seed(0))]
    off = NGramDrafter.fit(stream, V, L, order=2).teacher_forced(shuffled, seed=0)
    assert torch.equal(off[:, 1:], (shuffled[:, :-1] + 1) % V)  # the drafter's guess, not the data


def test_lstm_teacher_forced_is_seeded_per_sample(one_thread):
    torch.manual_seed(0)
    lstm = LSTMDrafter(V, L, width=8).eval()
    x1 = torch.randint(0, V, (6, L))
    a = lstm.teacher_forced(x1, seed=3)
    assert a.shape == x1.shape and ((a >= 0) & (a < V)).all()
    assert torch.equal(a[:3], lstm.teacher_forced(x1[:3], seed=3))
    assert not torch.equal(a, lstm.teacher_forced(x1, seed=4))


def test_lstm_drafter_counts_its_own_flops_and_measure_uses_them(one_thread):
    """FlopCounterMode sees nothing inside nn.LSTM: the drafter's closed form is what counts."""
    from lightning_modules.core.cost import count_flops, measure

    lstm = LSTMDrafter(81, 64, width=128).eval()
    assert lstm.flops_per_sample() == 64 * (2 * 4 * 128 * (128 + 128) + 2 * 128 * 81) == 18_104_320
    counted = count_flops(lstm.sample, 4, seed=0) / 4
    assert counted < 0.1 * lstm.flops_per_sample()  # the head only: why the closed form exists
    two = LSTMDrafter(V, L, width=8, layers=2)
    assert two.flops_per_sample() == L * (2 * 4 * 8 * 16 * 2 + 2 * 8 * V)
    net = TransformerDenoiser(V, L, width=16, depth=1, heads=2, time_freqs=4).eval()
    batch = measure(WarmStartDFM(net, two, t0=0.8, steps=2), 8, 0, repeats=1)
    assert batch.cost["drafter_flops"] == two.flops_per_sample()


def test_denoiser_flops_are_counted_in_eval_mode_too():
    """The fused eval-mode transformer path hides its matmuls from FlopCounterMode; the ledger
    replays calls without it."""
    from lightning_modules.core.ledger import Ledger

    net = TransformerDenoiser(81, 64, width=96, depth=2, heads=4).eval()
    x, t = torch.zeros(4, 64, dtype=torch.long), torch.full((4,), 0.5)
    with torch.inference_mode(), Ledger({"net": net}) as ledger:
        net(x, t)
    flops = ledger.breakdown(4)["net"]["flops_per_eval"]
    assert not net.training
    width, length = 96, 64  # per token and layer: qkv + out (8 w^2), ffn (16 w^2), scores (4 L w)
    per_layer = length * (2 * 4 * width * width + 2 * 8 * width * width + 4 * length * width)
    assert flops >= 2 * per_layer
