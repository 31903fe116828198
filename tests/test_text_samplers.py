"""The text baselines' samplers: a KV cache (autoregressive) or a logits cache (masked, MDLM)
changes the cost, never the tokens."""

from __future__ import annotations

import torch

from lightning_modules.autoregressive.sampler import categorical, sample_cached, sample_recomputed
from lightning_modules.nets.causal import CausalLM


def _lm(seed: int = 0) -> CausalLM:
    torch.manual_seed(seed)
    lm = CausalLM(11, 16, width=32, depth=2, heads=4).eval()
    with torch.no_grad():  # sharper than at initialisation, so the draws depend on the context
        lm.head.weight.mul_(20.0)
    return lm


def test_the_kv_cached_sampler_gives_the_tokens_of_full_recomputation(one_thread):
    lm = _lm()
    u = torch.rand(64, 16, generator=torch.Generator().manual_seed(3))
    for temperature in (0.8, 0.9, 1.0):
        cached, full = sample_cached(lm, u, temperature), sample_recomputed(lm, u, temperature)
        assert cached.shape == (64, 16) and torch.equal(cached, full)
        assert len(torch.unique(cached)) > 3  # not a degenerate model


def test_a_cached_step_scores_what_the_full_pass_scores(one_thread):
    lm = _lm(1)
    tokens = torch.randint(0, 11, (8, 16), generator=torch.Generator().manual_seed(0))
    full = lm(tokens)
    cache = lm.new_cache(8, device=torch.device("cpu"), dtype=torch.float32)
    previous = torch.full((8,), lm.bos)
    with torch.no_grad():
        for at in range(16):
            assert torch.allclose(lm.step(previous, at, cache), full[:, at], atol=1e-5)
            previous = tokens[:, at]


def test_dropout_acts_in_training_only_and_a_dropout_free_model_is_unchanged(one_thread):
    tokens = torch.randint(0, 11, (4, 16), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = CausalLM(11, 16, width=16, depth=2, heads=2)
    torch.manual_seed(0)
    dropped = CausalLM(11, 16, width=16, depth=2, heads=2, dropout=0.5)
    with torch.no_grad():
        assert torch.equal(plain.eval()(tokens), dropped.eval()(tokens))  # same weights, eval mode
        dropped.train()
        assert not torch.allclose(dropped(tokens), plain(tokens))
        plain.train()
        assert torch.equal(plain(tokens), plain.eval()(tokens))


def test_sample_i_depends_only_on_its_own_uniforms(one_thread):
    lm = _lm(2)
    u = torch.rand(20, 16, generator=torch.Generator().manual_seed(5))
    assert torch.equal(sample_cached(lm, u)[5:9], sample_cached(lm, u[5:9]))


def test_temperature_sharpens_the_draws():
    logits = torch.tensor([[2.0, 1.0, 0.0]]).repeat(20000, 1)
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    top = [float((categorical(logits, u, t) == 0).double().mean()) for t in (0.5, 1.0, 2.0)]
    exact = [float(torch.softmax(logits[0] / t, -1)[0]) for t in (0.5, 1.0, 2.0)]
    assert top[0] > top[1] > top[2]
    assert all(abs(a - b) < 0.01 for a, b in zip(top, exact, strict=True))


def test_the_cached_masked_sampler_gives_the_uncached_tokens_with_fewer_calls(one_thread):
    """MDLM's cache: with a time-free denoiser, a row whose tokens did not change reuses its
    logits. Same uniforms, same tokens; calls drop when steps outnumber the positions."""
    from lightning_modules.mdlm.sampler import masked_sample

    torch.manual_seed(0)
    embed, head = torch.nn.Embedding(12, 16).double(), torch.nn.Linear(16, 11).double()
    mix = torch.nn.Linear(8 * 16, 8 * 16).double()

    def denoiser(x: torch.Tensor) -> torch.Tensor:
        h = mix(embed(x).flatten(1)).view(len(x), 8, 16)
        return head(torch.tanh(h)) * 4

    g = torch.Generator().manual_seed(1)
    jump_u, token_u = torch.rand(50, 64, 8, generator=g), torch.rand(50, 64, 8, generator=g)
    cached, calls = masked_sample(denoiser, 50, 8, mask_id=11, steps=64, jump_u=jump_u, token_u=token_u)
    full, full_calls = masked_sample(denoiser, 50, 8, mask_id=11, steps=64, jump_u=jump_u, token_u=token_u,
                                     cached=False)
    assert torch.equal(cached, full) and not (cached == 11).any()
    assert bool((full_calls == 64).all()) and bool((calls <= 9).all())  # at most 8 changes + the first call
    assert float(calls.double().mean()) < 64 / 4


def test_the_autoregressive_baseline_learns_and_reports_exact_bits_per_character(one_thread):
    """On windows of a repeating 5-character pattern with a random phase, a trained model is
    far below log2(V) bits (the first character is uniform over the 5 phases, the rest is
    determined), and its validation curve falls."""
    import math
    from io import StringIO

    import pandas as pd

    from lightning_modules.autoregressive.module import ARModule, bits_per_char
    from lightning_modules.core.training import fit
    from lightning_modules.core.validation import held_out
    from lightning_modules.data.toy import RandomBatches

    g = torch.Generator().manual_seed(0)
    phase = torch.randint(0, 5, (600, 1), generator=g)
    windows = (phase + torch.arange(16)) % 5
    torch.manual_seed(0)
    lm = CausalLM(11, 16, width=32, depth=2, heads=4)
    before = bits_per_char(lm, windows[500:])
    info = fit(ARModule(lm, lr=3e-3, max_steps=300), RandomBatches(windows[:500], batch_size=32, seed=1),
               max_steps=300, seed=1, val_batches=held_out(windows[500:], batch_size=32, n_batches=2),
               checkpoint_every=0)
    after = bits_per_char(lm, windows[500:])
    assert before > 3.0 and after < 0.5 < math.log2(11)
    assert after >= math.log2(5) / 16 - 0.01  # the uniform first character is the floor
    val = pd.read_csv(StringIO(info["curve"]))["val/loss"].dropna()
    assert val.iloc[-1] < 0.2 * val.iloc[0]


def test_the_mdlm_elbo_of_a_uniform_denoiser_is_log_v_bits_per_character():
    from lightning_modules.mdlm.module import elbo_bits_per_char

    class Uniform(torch.nn.Module):
        time_input = False

        def __init__(self) -> None:
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(*z.shape, 11) + 0 * self.p

    windows = torch.randint(0, 11, (2000, 16), generator=torch.Generator().manual_seed(0))
    import math

    assert abs(elbo_bits_per_char(Uniform(), windows, mask_id=11, draws=4) - math.log2(11)) < 0.05


def test_mdlm_learns_a_pattern_and_its_cached_samples_follow_it(one_thread):
    """Windows of a 5-phase repeating pattern: after training, the validation ELBO is far below
    log2(V), and windows sampled with the cached sampler are mostly whole patterns."""
    import math

    import pytest

    from lightning_modules.core.training import fit
    from lightning_modules.core.validation import held_out
    from lightning_modules.data.toy import RandomBatches
    from lightning_modules.mdlm.module import MDLMModule, elbo_bits_per_char
    from lightning_modules.mdlm.sampler import masked_sample
    from lightning_modules.nets.transformer import TransformerDenoiser

    g = torch.Generator().manual_seed(0)
    windows = (torch.randint(0, 5, (600, 1), generator=g) + torch.arange(16)) % 5
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="time input"):
        MDLMModule(TransformerDenoiser(11, 16, width=32, depth=2, heads=4), mask_id=11)
    net = TransformerDenoiser(11, 16, width=32, depth=2, heads=4, time_input=False)
    before = elbo_bits_per_char(net, windows[500:], mask_id=11)
    module = MDLMModule(net, mask_id=11, lr=3e-3, ema_decay=0.9, max_steps=400)
    fit(module, RandomBatches(windows[:500], batch_size=32, seed=1), max_steps=400, seed=1,
        val_batches=held_out(windows[500:], batch_size=32, n_batches=2), checkpoint_every=0)
    net.load_state_dict(module.sampling_net().state_dict())
    net.eval()
    after = elbo_bits_per_char(net, windows[500:], mask_id=11)
    assert before > 2.5 and after < 0.6 < math.log2(11)
    # Positions unmasked in the same step are drawn independently (MDLM's factorisation error):
    # few steps break more windows; at 128 steps most positions unmask alone, and most of the
    # 128 steps change nothing in a sample, so they cost it no call.
    whole = {}
    for steps in (8, 128):
        u = torch.rand(2, 200, steps, 16, generator=torch.Generator().manual_seed(2))
        tokens, calls = masked_sample(net, 200, 16, mask_id=11, steps=steps, jump_u=u[0], token_u=u[1])
        whole[steps] = float(((tokens - tokens[:, :1] - torch.arange(16)) % 5 == 0).all(dim=1).double().mean())
    assert whole[128] > 0.8 and whole[128] > whole[8] and float(calls.double().mean()) <= 17


def test_the_substrate_is_part_of_the_identity_of_the_trials_that_use_it_only():
    from sweeps.config import compose
    from sweeps.identity import trial_hash

    def key(method: str, *more: str) -> str:
        return trial_hash(compose(["experiment=smoke_text", f"method={method}", *more]))

    assert key("mdlm") != key("mdlm", "substrate.mdlm.width=64")
    assert key("autoregressive") != key("autoregressive", "substrate.ar.steps=31")
    assert key("autoregressive") == key("autoregressive", "substrate.mdlm.width=64")
    assert key("ws_dfm") == key("ws_dfm", "substrate.mdlm.width=64", "substrate.ar.steps=31")


def test_a_text_sweep_runs_the_substrate_baselines_with_their_costs(workdir):
    """mdlm and autoregressive arms on the smoke text config: records, cached-sampler calls,
    KV-cached steps costed by the ledger, validation bits per character."""
    import json

    from sweeps import study as study_mod

    arms = ("sweep.arms={mdlm: {set: [method=mdlm], space: {method.steps: [4, 64]}}, "
            "ar: {set: [method=autoregressive], space: {method.temperature: [0.8, 1.0]}}}")
    study_mod.run_study(["experiment=smoke_text", arms, "sweep.confirm=false"], report=False, log=lambda *_: None)
    recs = [json.loads(x) for x in (workdir / "runs" / "smoke_text" / "trials.jsonl").read_text().splitlines()]
    assert [r["state"] for r in recs] == ["COMPLETE"] * 4
    mdlm = {r["params"]["method.steps"]: r for r in recs if r["arm"] == "mdlm"}
    assert mdlm[64]["cost"]["evals"] <= 33 < 64  # seq_len 32: at most 32 changes + the first call
    assert mdlm[4]["cost"]["evals"] <= 4
    ar = [r for r in recs if r["arm"] == "ar"]
    for r in ar:
        net = r["cost"]["networks"]["ar"]
        assert r["cost"]["evals"] == 32 and net["evals_per_sample"] == 32  # one step per character
        assert net["shapes"] == 32  # each prefix length is its own call signature
        assert r["train"]["ar"]["val_bits_per_char"] > 0
    assert mdlm[4]["train"]["mdlm"]["val_bits_per_char"] > 0


def test_a_study_whose_evaluator_is_weaker_than_a_compared_model_stops_with_one_line(workdir, capsys):
    from sweeps.cli import main

    arms = "sweep.arms={ar: {set: [method=autoregressive], space: {}}}"
    for _ in range(2):  # the second finds `ar` in the cache: the check reads its record from there too
        code = main(["sweep", "experiment=smoke_text", arms, "substrate.ar.width=64", "substrate.ar.depth=2",
                     "substrate.ar.steps=120"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        assert "eval.text_lm" in err[0] and "stronger than every model it judges: ar" in err[0]
        assert not (workdir / "runs" / "smoke_text" / "trials.jsonl").exists()  # no trial ran


def test_hamming_ot_is_the_exact_assignment_with_fewest_differing_positions():
    import itertools

    from lightning_modules.continuous.pairing import hamming_ot

    g = torch.Generator().manual_seed(0)
    drafts, data = torch.randint(0, 3, (6, 5), generator=g), torch.randint(0, 3, (6, 5), generator=g)
    paired = hamming_ot(drafts, data)
    cost = int((drafts != paired).sum())
    best = min(int((drafts != data[list(p)]).sum()) for p in itertools.permutations(range(6)))
    assert cost == best < int((drafts != data).sum())
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, data.tolist()))  # a permutation


def test_ws_dfm_trains_and_samples_with_the_hamming_ot_pairing(workdir):
    import json

    from sweeps import study as study_mod

    arms = "sweep.arms={w: {set: [method=ws_dfm, refiner.pairing=hamming_ot]}}"
    study_mod.run_study(["experiment=smoke_text", arms, "sweep.confirm=false"], report=False, log=lambda *_: None)
    recs = [json.loads(x) for x in (workdir / "runs" / "smoke_text" / "trials.jsonl").read_text().splitlines()]
    assert recs and all(r["state"] == "COMPLETE" for r in recs)
    assert all(r["params"]["refiner.pairing"] == "hamming_ot" for r in recs)
