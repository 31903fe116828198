"""The CoFRe family's fixed-point denoiser and its training losses: conversion from an MDLM is
exact, stochastic Jacobian-free backprop differentiates only the last iterations, state reuse
starts where it says, the cross-step losses vanish where they must, and the sampler's block
passes are its calls times (pre + iterations + post)."""

from __future__ import annotations

import copy

import pytest
import torch

from lightning_modules.cofre.models import convert
from lightning_modules.cofre.module import FPMDLMModule
from lightning_modules.cofre.net import FixedPointDenoiser
from lightning_modules.cofre.registered import FPMDLMMethod
from lightning_modules.cofre.sampler import Reuse, fp_sample, iteration_plan
from lightning_modules.core.cost import measure
from lightning_modules.mdlm.sampler import masked_sample
from lightning_modules.nets.transformer import TransformerDenoiser

V, L = 11, 12


def _fp(**kw) -> FixedPointDenoiser:
    torch.manual_seed(0)
    return FixedPointDenoiser(V, L, width=16, heads=2, **kw).eval()


def _tokens(n: int = 5, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, V, (n, L), generator=g)
    x[:, ::3] = V  # some [MASK]
    return x


def test_a_converted_model_is_the_mdlm_without_its_dropped_blocks():
    torch.manual_seed(0)
    mdlm = TransformerDenoiser(V, L, width=16, depth=4, heads=2, time_input=False).eval()
    fp = _fp(iters=1)
    convert(fp, mdlm)
    # fusion W_h = I, W_u = 0: one iteration is block 1; pre = block 0, post = block 3
    three = copy.deepcopy(mdlm)
    three.blocks.layers = torch.nn.ModuleList([mdlm.blocks.layers[i] for i in (0, 1, 3)])
    three.blocks.num_layers = 3
    x = _tokens()
    with torch.no_grad():
        assert torch.allclose(fp(x), three(x), atol=1e-5)
        # two iterations apply block 1 twice
        twice = copy.deepcopy(three)
        twice.blocks.layers = torch.nn.ModuleList([mdlm.blocks.layers[i] for i in (0, 1, 1, 3)])
        twice.blocks.num_layers = 4
        assert torch.allclose(fp(x, iters=2), twice(x), atol=1e-5)
    assert sum(p.numel() for p in fp.parameters()) < sum(p.numel() for p in mdlm.parameters())


def test_jacobian_free_backprop_differentiates_only_the_last_iterations():
    fp = _fp().train()
    x = _tokens()
    # W_u = 0 at the start: with iterations without gradient first, h_pre reaches the loss only
    # through the detached start state, so the pre block gets no gradient; the F block does
    fp(x, iters=2, no_grad_iters=2).sum().backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in fp.pre.parameters())
    assert float(fp.fp.linear1.weight.grad.abs().sum()) > 0
    fp.zero_grad(set_to_none=True)
    fp(x, iters=2).sum().backward()  # no detached stage: the pre block is differentiated through h^0
    assert float(fp.pre[0].linear1.weight.grad.abs().sum()) > 0
    # the stage without gradient builds no graph: its result has no grad_fn
    h_pre = fp.encode(x)
    assert fp.solve(h_pre, 0, no_grad_iters=3).grad_fn is None
    # and it is the same iterate: 2 + 1 equals 3 in value
    with torch.no_grad():
        assert torch.allclose(fp.solve(h_pre, 1, no_grad_iters=2), fp.solve(h_pre, 3), atol=1e-6)


def test_a_jfb_step_has_the_gradients_of_its_last_iterations_from_the_same_detached_state():
    fp = _fp().train()
    with torch.no_grad():  # a fusion that injects h_pre, so the pre block's gradient is not trivially 0
        fp.fuse.weight.add_(0.1 * torch.randn_like(fp.fuse.weight))
    x = _tokens()
    fp(x, iters=2, no_grad_iters=3).square().mean().backward()
    jfb = {k: p.grad.clone() for k, p in fp.named_parameters() if p.grad is not None}
    fp.zero_grad(set_to_none=True)
    h_pre = fp.encode(x)
    with torch.no_grad():
        start = fp.solve(h_pre, 3)  # the same 3 iterations, outside any graph
    h = start.detach()
    for _ in range(2):  # only the last 2, differentiated, with h_pre injected
        h = fp.step(h, h_pre)
    fp.head(fp.decode(h)).square().mean().backward()
    plain = {k: p.grad.clone() for k, p in fp.named_parameters() if p.grad is not None}
    assert set(jfb) == set(plain) and any(k.startswith("pre.") for k in plain)
    for k in plain:
        assert torch.allclose(jfb[k], plain[k], atol=1e-6), k


def test_state_reuse_starts_from_the_blend_of_the_previous_state_and_h_pre():
    fp = _fp()
    x = _tokens()
    with torch.no_grad():
        h_pre = fp.encode(x)
        h_prev = torch.randn_like(h_pre)
        gamma = torch.rand(len(x), L, 1)
        _, _, got = fp(x, iters=1, h_prev=h_prev, gamma=gamma, hidden=True)
        assert torch.allclose(got, fp.step(gamma * h_prev + (1 - gamma) * h_pre, h_pre), atol=1e-6)
        # gamma = 0 is no reuse; gamma = 1 starts exactly at the previous state
        assert torch.allclose(fp(x, h_prev=h_prev, gamma=torch.zeros_like(gamma)), fp(x), atol=1e-6)
        _, _, full = fp(x, iters=1, h_prev=h_prev, gamma=torch.ones_like(gamma), hidden=True)
        assert torch.allclose(full, fp.step(h_prev, h_pre), atol=1e-6)
    with pytest.raises(ValueError, match="h_prev needs gamma"):
        fp(x, h_prev=h_prev)


@torch.no_grad()
def test_the_cross_step_losses_vanish_where_student_and_teacher_agree():
    x = torch.randint(0, V, (8, L))
    torch.manual_seed(3)
    fp = _fp(iters=1)
    cons = FPMDLMModule(fp, mask_id=V, lr=1e-3, ema_decay=0.9, max_steps=10, ng_max=0, g_min=1, g_max=1,
                        extra="consistency", gap_min=0.0, gap_max=0.0)
    # gap 0: the teacher's input is the student's, the state distance is 0 and only the ELBO is left
    torch.manual_seed(5)
    with_term = cons.cross_step_loss(x, 0, 1, weight=10.0)
    torch.manual_seed(5)
    without = cons.cross_step_loss(x, 0, 1, weight=0.0)
    assert float(with_term) == pytest.approx(float(without), abs=1e-6)
    # distillation from the MDLM the student was converted from, at temperature 1 and gap 0, with
    # the student equal to its teacher (a 3-block MDLM): KL 0
    torch.manual_seed(0)
    teacher = TransformerDenoiser(V, L, width=16, depth=3, heads=2, time_input=False).eval()
    student = _fp(iters=1)
    convert(student, teacher)  # blocks 0 | 1 | 2: the same network
    dist = FPMDLMModule(student, mask_id=V, lr=1e-3, ema_decay=0.9, max_steps=10, ng_max=0, g_min=1, g_max=1,
                        extra="distill", teacher=teacher, tau=1.0, gap_min=0.0, gap_max=0.0)
    torch.manual_seed(7)
    a = dist.cross_step_loss(x, 0, 1, weight=1.0)
    torch.manual_seed(7)
    b = dist.cross_step_loss(x, 0, 1, weight=0.0)
    assert float(a) == pytest.approx(float(b), abs=1e-5)
    # with a gap the teacher sees more: a positive term
    dist.gap_min = dist.gap_max = 0.3
    torch.manual_seed(7)
    c = dist.cross_step_loss(x, 0, 1, weight=1.0)
    torch.manual_seed(7)
    d = dist.cross_step_loss(x, 0, 1, weight=0.0)
    assert float(c) > float(d)


def test_iterations_and_the_warm_up_follow_their_settings():
    fp = _fp()
    m = FPMDLMModule(fp, mask_id=V, lr=1e-3, ema_decay=0.9, max_steps=10, ng_max=3, g_min=1, g_max=4,
                     extra="consistency", lam=0.1, warmup=4)
    torch.manual_seed(0)
    draws = [m.draw_iterations() for _ in range(400)]
    assert {a for a, _ in draws} == {0, 1, 2, 3} and {b for _, b in draws} == {1, 2, 3, 4}
    assert m.weight() == pytest.approx(0.025)  # step 0 of a 4-step warm-up
    with pytest.raises(ValueError, match="g_min <= g_max"):
        FPMDLMModule(fp, mask_id=V, lr=1e-3, ema_decay=0.9, max_steps=10, ng_max=0, g_min=3, g_max=2)
    with pytest.raises(ValueError, match="teacher"):
        FPMDLMModule(fp, mask_id=V, lr=1e-3, ema_decay=0.9, max_steps=10, ng_max=0, g_min=1, g_max=1, extra="distill")


@pytest.mark.parametrize("iters", [1, 3])
def test_the_sampler_charges_its_calls_times_pre_iterations_post(iters):
    fp = _fp(iters=2)
    knobs = {"steps": 6, "iters": iters, "schedule": "constant", "reuse": "none", "gamma_visible": 1.0,
             "gamma_mask_min": 0.75, "gamma_mask_max": 0.9, "gamma_changed": 0.2}
    method = FPMDLMMethod.from_knobs({"fp_mdlm": fp}, knobs)
    batch = measure(method, 16, seed=0, repeats=1)
    calls = batch.counters["calls"]
    assert 1 <= calls <= 6
    assert batch.counters["block_passes"] == pytest.approx(calls * (2 + iters))
    assert batch.cost["nominal_block_passes"] == 6 * (2 + iters)
    # the ledger saw the same calls (rows per sample) as the sampler counted
    assert batch.cost["networks"]["fp_mdlm"]["evals_per_sample"] == pytest.approx(calls)


def test_three_state_reuse_gives_each_position_its_share_of_the_last_state():
    m = V
    last = torch.tensor([[m, m, 3, 4, m, m, m, m]])
    now = torch.tensor([[m, 5, 3, 4, m, m, 7, m]])  # visible share 4/8
    g = Reuse("3sr", 1.0, 0.75, 0.9, 0.2).gamma(now, last, m).squeeze(-1)[0].tolist()
    ramp = 0.75 + 0.15 * 0.5
    assert g == pytest.approx([ramp, 0.2, 1.0, 1.0, ramp, ramp, 0.2, ramp])
    assert Reuse("full").gamma(now, last, m).squeeze(-1).tolist() == [[1.0] * 8]


def test_a_decreasing_iteration_plan_front_loads_and_keeps_the_budget():
    assert iteration_plan("constant", 3, 4) == [3, 3, 3, 3]
    plan = iteration_plan("decreasing", 4, 9)
    assert plan == sorted(plan, reverse=True) and sum(plan) == 36 and plan[0] == 6 and plan[-1] == 2
    assert min(iteration_plan("decreasing", 1, 8)) >= 1
    with pytest.raises(ValueError, match="allowed: constant, decreasing"):
        iteration_plan("cosine", 2, 4)


def test_without_reuse_the_fixed_point_sampler_is_mdlms_sampler_call_for_call():
    fp = _fp(iters=3)
    n, steps = 12, 8
    g = torch.Generator().manual_seed(0)
    ju, tu = torch.rand(n, steps, L, generator=g), torch.rand(n, steps, L, generator=g)
    tokens, calls, passes = fp_sample(fp, n, L, mask_id=V, plan=[3] * steps, jump_u=ju, token_u=tu)
    ref, ref_calls = masked_sample(lambda x: fp(x, iters=3), n, L, mask_id=V, steps=steps, jump_u=ju, token_u=tu)
    assert torch.equal(tokens, ref) and torch.equal(calls, ref_calls)
    assert torch.equal(passes, calls * 5)
    # with reuse the draws are the same uniforms; a row is still called only after a change
    tokens2, calls2, passes2 = fp_sample(fp, n, L, mask_id=V, plan=iteration_plan("decreasing", 3, steps),
                                         jump_u=ju, token_u=tu, reuse=Reuse("3sr"))
    assert torch.equal(calls2, calls) and (tokens2 != V).all() and int(passes2.max()) <= sum(
        2 + k for k in iteration_plan("decreasing", 3, steps))


def test_the_ledger_counts_block_passes_of_the_calls_made():
    fp = _fp(iters=3)
    knobs = {"steps": 5, "iters": 3, "schedule": "decreasing", "reuse": "3sr", "gamma_visible": 1.0,
             "gamma_mask_min": 0.75, "gamma_mask_max": 0.9, "gamma_changed": 0.2}
    batch = measure(FPMDLMMethod.from_knobs({"fp_mdlm": fp}, knobs), 16, seed=0, repeats=1)
    # pre + iterations + post per row and call, as the sampler counted them
    assert batch.cost["block_passes"] == pytest.approx(batch.counters["block_passes"])
    assert batch.cost["networks"]["fp_mdlm"]["block_passes_per_sample"] == pytest.approx(batch.cost["block_passes"])
    # an MDLM of 2 blocks: 2 per call it made
    torch.manual_seed(0)
    from lightning_modules.mdlm.registered import MDLMMethod

    mdlm = TransformerDenoiser(V, L, width=16, depth=2, heads=2, time_input=False).eval()
    plain = measure(MDLMMethod.from_knobs({"mdlm": mdlm}, {"steps": 5}), 16, seed=0, repeats=1)
    assert plain.cost["block_passes"] == pytest.approx(2 * plain.cost["networks"]["mdlm"]["evals_per_sample"])


def test_re_drawing_masks_visible_tokens_again_and_still_ends_unmasked():
    fp = _fp(iters=1)
    n, steps = 16, 8
    g = torch.Generator().manual_seed(0)
    ju, tu, ru = (torch.rand(n, steps, L, generator=g) for _ in range(3))
    plain, plain_calls, _ = fp_sample(fp, n, L, mask_id=V, plan=[1] * steps, jump_u=ju, token_u=tu)
    same, same_calls, _ = fp_sample(fp, n, L, mask_id=V, plan=[1] * steps, jump_u=ju, token_u=tu, remask=0.0,
                                    remask_u=ru)
    assert torch.equal(same, plain) and torch.equal(same_calls, plain_calls)  # remask 0: MDLM's sampler
    redrawn, calls, _ = fp_sample(fp, n, L, mask_id=V, plan=[1] * steps, jump_u=ju, token_u=tu, remask=1.0,
                                  remask_u=ru)
    assert (redrawn != V).all()  # the last step unmasks whatever was masked again
    assert not torch.equal(redrawn, plain) and int(calls.sum()) >= int(plain_calls.sum())
    with pytest.raises(ValueError, match="refuses 3SR"):
        fp_sample(fp, n, L, mask_id=V, plan=[1] * steps, jump_u=ju, token_u=tu, reuse=Reuse("3sr"), remask=0.5,
                  remask_u=ru)


@pytest.mark.parametrize(("overrides", "line"), [
    (["method.reuse=3sr", "method.remask=0.5"], "method.reuse='3sr' is not allowed: none or full when "
     "method.remask > 0 (3SR needs monotone unmasking"),
    (["method.iters=0"], "method.iters=0 is not allowed"),
    (["method.gamma_mask_min=0.95"], "method.gamma_mask_min=0.95 is not allowed: <= method.gamma_mask_max=0.9"),
    (["method.schedule=cosine"], "method.schedule='cosine' is not allowed"),
])
def test_bad_fixed_point_sampler_knobs_are_refused_in_one_line_before_any_compute(workdir, capsys, overrides,
                                                                                  line):
    from sweeps.cli import main

    arm = "cofre[scratch,N2]"
    sets = ",".join(overrides)
    assert main(["sweep", "experiment=cofre", f"sweep.only=['{arm}']", f"sweep.arms.{arm}.set+=[{sets}]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and line in err[0], err
    assert not (workdir / "runs").exists() or not any((workdir / "runs").rglob("trials.jsonl"))
