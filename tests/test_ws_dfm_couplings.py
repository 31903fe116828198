"""WS-DFM couplings and starts that keep good drafts: the `corrupt` pairing and the
confidence gate of the sampler."""

from __future__ import annotations

import json

import torch

from lightning_modules.discrete.dfm import corrupt
from lightning_modules.discrete.mixture import discrete_sample

V, L, MASK = 5, 12, 5


def _confident_denoiser(sure: torch.Tensor, p_sure: float):
    """Logits [n, L, V]: where `sure` [L] is set, probability p_sure on the current token,
    else uniform."""

    def denoiser(x, t):  # noqa: ANN001, ANN202
        n = x.shape[0]
        logits = torch.zeros(n, L, V)
        rest = (1 - p_sure) / (V - 1)
        current = torch.nn.functional.one_hot(x.clamp_max(V - 1), V).double()
        sharp = torch.log(current * p_sure + (1 - current) * rest).float()
        return torch.where(sure.view(1, L, 1) & (x < V).unsqueeze(-1), sharp, logits)

    return denoiser


def _uniforms(n: int, steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, steps, L, generator=g), torch.rand(n, steps, L, generator=g)


def test_gate_one_is_the_plain_sampler_and_a_gate_never_redraws_trusted_tokens():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, V, (64, L), generator=g)
    x0[:, :3] = MASK  # masks are always filled
    sure = torch.arange(L) % 2 == 1  # the denoiser trusts the odd positions' tokens (p = 0.9)
    denoiser = _confident_denoiser(sure, 0.9)
    jump_u, token_u = _uniforms(64, 4, 1)
    plain = discrete_sample(denoiser, x0, 0.5, 4, jump_u=jump_u, token_u=token_u)
    assert torch.equal(discrete_sample(denoiser, x0, 0.5, 4, jump_u=jump_u, token_u=token_u, gate=1.0), plain)
    gated = discrete_sample(denoiser, x0, 0.5, 4, jump_u=jump_u, token_u=token_u, gate=0.5)
    trusted = sure & (torch.arange(L) >= 3)
    assert torch.equal(gated[:, trusted], x0[:, trusted])  # p = 0.9 >= gate: never redrawn
    assert (plain[:, trusted] != x0[:, trusted]).any()  # the plain sampler does redraw them
    assert (gated < V).all()  # every [MASK] filled
    doubted = ~sure & (torch.arange(L) >= 3)
    assert torch.equal(gated[:, doubted], plain[:, doubted])  # doubted tokens: the plain sampler's draws


def test_corrupt_keeps_x1_but_a_rate_of_positions_taken_from_the_draft():
    g = torch.Generator().manual_seed(0)
    x1, draft = torch.randint(0, 50, (400, 64), generator=g), torch.randint(50, 100, (400, 64), generator=g)
    u = torch.rand(400, 64, generator=g)
    for rate in (0.0, 0.25, 1.0):
        out = corrupt(x1, draft, rate, u)
        from_draft = out >= 50
        assert torch.equal(from_draft, u < rate)
        assert torch.equal(out[from_draft], draft[from_draft]) and torch.equal(out[~from_draft], x1[~from_draft])
    assert abs(float((corrupt(x1, draft, 0.25, u) >= 50).double().mean()) - 0.25) < 0.01


def test_the_corrupt_rate_is_part_of_the_corrupt_refiners_key_only():
    from sweeps.config import compose
    from sweeps.models import ModelStore

    def key(*overrides):
        return ModelStore.key(None, "refiner", compose(["experiment=smoke_text", "method=ws_dfm", *overrides]))

    assert key("refiner.corrupt_rate=0.1") == key("refiner.corrupt_rate=0.5")  # teacher_forced: unused
    corrupt_keys = {key("refiner.pairing=corrupt", f"refiner.corrupt_rate={r}") for r in (0.1, 0.5)}
    assert len(corrupt_keys) == 2 and key() not in corrupt_keys


def test_ws_dfm_trains_on_corrupt_pairs_and_samples_with_a_gate(workdir):
    from sweeps import study as study_mod

    arms = ("sweep.arms={w: {set: [method=ws_dfm, refiner.pairing=corrupt, refiner.start=draft], "
            "space: {method.t0: [0.8], method.steps: [2], method.gate: [0.5, 1.0]}}}")
    study_mod.run_study(["experiment=smoke_text", arms, "sweep.confirm=false"], report=False, log=lambda *_: None)
    recs = [json.loads(x) for x in (workdir / "runs" / "smoke_text" / "trials.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r["state"] == "COMPLETE" for r in recs)
    assert sorted(r["params"]["method.gate"] for r in recs) == [0.5, 1.0]
    assert all(r["params"]["refiner.pairing"] == "corrupt" and r["cost"]["nfe"] == 2 for r in recs)
