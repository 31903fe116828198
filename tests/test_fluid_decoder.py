"""FLUID's decoder and elastic horizons (lightning_modules/fluid/decoder.py, horizon.py): lossless
with verification, one token per pass at gamma = 1, cached logits equal to recomputation, the
oracle K*, and what the method records."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.core.cost import measure
from lightning_modules.fluid.decoder import decode, draw
from lightning_modules.fluid.horizon import KHead, oracle_horizon, soft_target, trigger_features
from lightning_modules.fluid.layout import build_layout, expand
from lightning_modules.fluid.net import FluidLM
from lightning_modules.fluid.registered import FluidDecoding
from lightning_modules.nets.causal import CausalLM

V, L, N = 7, 12, 5


@pytest.fixture(scope="module")
def net() -> FluidLM:
    torch.manual_seed(0)
    fluid = FluidLM.adapted_from(CausalLM(V, L, width=16, depth=2, heads=2)).eval()
    with torch.no_grad():  # away from the backbone, so masks and real slots disagree often
        for p in fluid.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return fluid


@pytest.fixture(scope="module")
def head() -> KHead:
    torch.manual_seed(1)
    return KHead(16, 6).eval()


def _uniforms(seed: int = 3) -> torch.Tensor:
    return torch.rand(N, L, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def tokenwise(net: FluidLM, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """Token-by-token sampling of the adapted model, each position recomputed from scratch."""
    out = torch.zeros(u.shape, dtype=torch.long)
    for q in range(u.shape[1]):
        out[:, q] = draw(net(out[:, : q + 1])[:, q], u[:, q], temperature)
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.8, 0.0])
def test_with_verification_the_windows_are_token_by_token_sampling(net, head, temperature):
    u = _uniforms()
    reference = tokenwise(net, u, temperature)
    for k, gamma, elastic in [(0, 0.9, False), (1, 0.0, False), (3, 0.3, False), (6, 0.0, False), (6, 0.0, True),
                              (4, 0.9, True)]:
        out = decode(net, u, k=k, gamma=gamma, verify=True, temperature=temperature, head=head if elastic else None)
        assert torch.equal(out.tokens, reference), (k, gamma, elastic)
        assert int((out.strides * torch.arange(len(out.strides))).sum()) == N * L  # every token committed once
        assert int(out.passes.sum()) == int(out.strides.sum())
        assert 0 <= out.accepted <= out.proposed
    greedy = decode(net, u, k=6, gamma=0.0, verify=True, temperature=0.0)
    assert greedy.accepted > 0 and int(greedy.passes.sum()) < N * L  # some proposals are kept: fewer passes


def test_gamma_one_without_verification_commits_one_token_per_pass(net):
    u = _uniforms(4)
    for temperature in (1.0, 0.0):
        out = decode(net, u, k=4, gamma=1.0, verify=False, temperature=temperature)
        assert torch.equal(out.tokens, tokenwise(net, u, temperature))
        assert out.passes.tolist() == [L] * N and out.strides.tolist() == [0, N * L] + [0] * 8
        assert out.proposed == 0


def test_without_verification_every_confident_proposal_is_committed(net):
    out = decode(net, _uniforms(5), k=4, gamma=0.0, verify=False, temperature=1.0)
    # from BOS: 1 token; 4 proposals + 1 draw; 4 + 1 and the last position's proposal with them
    assert out.passes.tolist() == [3] * N and out.strides.tolist() == [0, N, 0, 0, 0, N, N, 0, 0, 0]
    assert out.accepted == out.proposed == N * (4 + 4 + 1)
    assert not torch.equal(out.tokens, tokenwise(net, _uniforms(5), 1.0))  # lossy: the masks' own draws


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_cached_passes_give_the_logits_of_recomputation(net, bidirectional):
    """Every pass's logits, each row's real slots and masks (rows ragged: padding between
    them), equal a cacheless forward over the window's final tokens (verification off: every
    proposal is committed as drawn). The bidirectional ablation: its masks see each other."""
    import copy

    net = copy.deepcopy(net)
    net.bidirectional = bidirectional
    u = _uniforms(6)
    calls = []
    hook = net.register_forward_hook(lambda m, args, kwargs, out: calls.append((args[0], kwargs, out[0].clone())),
                                     with_kwargs=True)
    try:
        out = decode(net, u, k=3, gamma=0.5, verify=False, temperature=1.0)
    finally:
        hook.remove()
    tokens = out.tokens
    assert len(calls) == int(out.passes.max()) >= 3 and len(set(out.passes.tolist())) > 1  # rows finish apart
    with torch.no_grad():
        full = net(tokens)  # the autoregressive logits of every position
        padded = 0
        for p, (inputs, kwargs, logits) in enumerate(calls):
            alive = [row for row in range(N) if int(out.passes[row]) > p]  # a row leaves after its last pass
            attend = kwargs["attend"][:, 0, :, kwargs["at"]:]  # among the pass's own slots
            reals = int((inputs != net.mask_id).any(0).sum())
            for i, row in enumerate(alive):
                n_real = 1 + int(attend[i, 1:reals, 0].sum())  # a real slot sees the first; padding only itself
                n_mask = int(attend[i, reals:, 0].sum())  # a mask sees every real slot of its row
                padded += (reals - n_real) + (inputs.shape[1] - reals - n_mask)
                positions = kwargs["positions"][i]
                assert torch.allclose(logits[i, :n_real], full[row, positions[:n_real]], atol=1e-5)
                if n_mask:
                    blocks = [0] * L
                    blocks[int(positions[n_real - 1])] = n_mask  # after the row's last real slot
                    layout = build_layout(blocks, bidirectional)
                    x, _ = expand(tokens[row : row + 1], layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V,
                                  restore=False)
                    assert torch.allclose(logits[i, reals : reals + n_mask], net(x, layout)[0, layout.is_mask],
                                          atol=1e-5)
        assert padded > 0  # the batch was ragged


def test_the_elastic_head_cuts_the_proposals_at_its_horizon(net):
    passes = {}
    for horizon in (1, 3):
        head = KHead(16, 6).eval()
        with torch.no_grad():
            head.net[2].weight.zero_()
            head.net[2].bias.copy_(torch.arange(6) == horizon - 1)  # always class horizon - 1
        out = decode(net, _uniforms(8), k=6, gamma=0.0, verify=False, temperature=1.0, head=head)
        # without verification and at gamma 0 every pass proposes exactly min(horizon, masks left)
        assert out.proposed <= int(out.passes.sum()) * horizon
        assert int(out.strides[horizon + 2:].sum()) <= N  # more than horizon + 1 only at a window's end
        passes[horizon] = int(out.passes.sum())
    assert passes[3] < passes[1]  # the head's horizon decides how far a pass reaches


def test_the_oracle_horizon_is_the_largest_k_whose_running_mean_stays_below_tau():
    losses = torch.tensor([[1.0, 1.0, 5.0, 0.5],  # means 1, 1, 2.33, 1.875: a later k passes again -> 4
                           [3.0, 3.0, 3.0, 3.0],  # none below 2 -> 1
                           [0.5, 4.0, 4.0, 4.0],  # only the first -> 1
                           [1.0, 2.0, 2.5, 2.6]])  # 1, 1.5, 1.83, 2.025 -> 3
    assert oracle_horizon(losses, 2.0).tolist() == [4, 1, 1, 3]
    target = soft_target(torch.tensor([1, 4]), 6, sigma=1.5)
    assert torch.allclose(target.sum(1), torch.ones(2)) and target.argmax(1).tolist() == [0, 3]
    assert float(target[1, 2]) == pytest.approx(float(target[1, 4]))  # symmetric around K* - 1


def test_trigger_features_are_the_frozen_models_per_offset_losses(net):
    windows = torch.randint(0, V, (3, L), generator=torch.Generator().manual_seed(7))
    hidden, losses, ar_losses = trigger_features(net, windows, 4)
    assert hidden.shape == (3 * (L - 4), 16) and losses.shape == (3 * (L - 4), 4) and ar_losses.shape == (3 * L,)
    with torch.no_grad():
        ar = torch.nn.functional.cross_entropy(net(windows).flatten(0, 1), windows.flatten(), reduction="none")
    assert torch.allclose(ar_losses, ar, atol=1e-5)
    assert torch.allclose(net.head(hidden), net(windows)[:, : L - 4].flatten(0, 1), atol=1e-5)  # the trigger's own
    for row, c in [(0, 0), (1, 5), (2, L - 5)]:  # one block of 4 masks after real slot c, recomputed alone
        blocks = [0] * L
        blocks[c] = 4
        layout = build_layout(blocks)
        x, labels = expand(windows[row : row + 1], layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V,
                           restore=False)
        with torch.no_grad():
            ce = torch.nn.functional.cross_entropy(net(x, layout)[0, layout.is_mask], labels[0, layout.is_mask],
                                                   reduction="none")
        assert torch.allclose(losses[row * (L - 4) + c], ce, atol=1e-5)  # offsets 1..4 in order


def test_the_method_records_strides_and_keeps_the_ledgers_contract(net, head):
    method = FluidDecoding(net, head, k=4, gamma=0.0, verify=True, horizon="elastic", temperature=1.0, chunk=3)
    method.models = {"fluid": net, "fluid_head": head}
    batch = measure(method, N, seed=0, repeats=1, check_ledger=True)
    c = batch.cost["counters"]
    assert c["passes"] == pytest.approx(batch.nfe) and c["stride"] == pytest.approx(L / c["passes"])  # L per window
    assert 1 <= c["stride_p10"] <= c["stride_p50"] <= c["stride_p90"] <= 5
    assert batch.cost["networks"]["fluid"]["calls"] >= L // 5
    assert batch.cost["networks"]["fluid_head"]["calls"] >= 1
    plain = FluidDecoding(net, head, k=4, gamma=0.0, verify=True, horizon="fixed", temperature=1.0)
    plain.models = {"fluid": net, "fluid_head": head}
    same = plain.generate(N, seed=0)
    assert torch.equal(same.samples, batch.samples)  # verified: the horizon changes the passes, never the tokens
    with pytest.raises(ValueError, match="method.k=7 is not allowed: <= substrate.fluid.k_max=6"):
        FluidDecoding(net, head, k=7)


def test_speculative_decoding_gives_ars_own_samples_in_fewer_passes():
    from lightning_modules.autoregressive.registered import Autoregressive
    from lightning_modules.autoregressive.speculative import Speculative
    from lightning_modules.drafters.ngram import NGramDrafter

    torch.manual_seed(2)
    ar = CausalLM(V, L, width=16, depth=2, heads=2).eval()
    own = Autoregressive(ar, temperature=1.0).generate(400, seed=11).samples  # the drafter learns ar's own text
    ngram = NGramDrafter.fit(own.flatten(), V, L, order=4)
    for temperature in (1.0, 0.0):
        plain = Autoregressive(ar, temperature=temperature).generate(N, seed=3)
        for lookahead in (1, 4):
            fast = Speculative(ar, ngram, lookahead=lookahead, temperature=temperature)
            fast.models = {"ar": ar, "drafter": ngram}
            batch = fast.generate(N, seed=3)
            assert torch.equal(batch.samples, plain.samples), (temperature, lookahead)
            assert batch.counters["passes"] < L and batch.nfe == batch.counters["passes"]
    assert 0 < batch.counters["accepted_share"] <= 1
    with pytest.raises(ValueError, match="drafter.name='LSTMDrafter' is not allowed: ngram"):
        from lightning_modules.drafters.lstm import LSTMDrafter
        Speculative(ar, LSTMDrafter(V, L))


@pytest.mark.parametrize(("overrides", "line"), [
    (["method.k=-1"], "method.k=-1 is not allowed: an integer in [0, 16]"),
    (["method.gamma=1.5"], "method.gamma=1.5 is not allowed: a number in [0, 1]"),
    (["method.horizon=wide"], "method.horizon='wide' is not allowed: one of fixed, elastic"),
    (["method.temperature=-0.5"], "method.temperature=-0.5 is not allowed: a number >= 0"),
    (["method.horizon=elastic", "method.k=0"], "method.k=0 is not allowed: >= 1 with method.horizon=elastic"),
    (["method.verify=maybe"], "method.verify='maybe' is not allowed: true or false"),
])
def test_bad_decoder_knobs_are_refused_in_one_line_before_any_compute(workdir, capsys, overrides, line):
    from sweeps.cli import main

    arm = "fluid[k4,verify]"
    assert main(["sweep", "experiment=fluid", f"sweep.only=['{arm}']", f"sweep.arms.{arm}.set+=[{','.join(overrides)}]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and line in err[0], err
    assert not (workdir / "runs").exists() or not any((workdir / "runs").rglob("trials.jsonl"))


def test_a_head_needs_room_for_its_masks_in_the_window(net):
    with pytest.raises(ValueError, match="substrate.fluid.k_max=12 is not allowed: < data.seq_len=12"):
        trigger_features(net, torch.zeros(2, L, dtype=torch.long), L)
