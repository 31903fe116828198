"""The model-scheduling family: the schedule grammar, the per-network cache of the shared
sampler, the ledger's per-network calls and FLOPs, and all-H = heavy-only."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.core.cost import measure
from lightning_modules.core.errors import ConfigError
from lightning_modules.core.ledger import countable
from lightning_modules.mdlm.registered import MDLMMethod
from lightning_modules.mdlm.sampler import masked_sample
from lightning_modules.nets.transformer import TransformerDenoiser
from lightning_modules.scheduling.registered import SCHEDULE, ScheduledMDLM
from lightning_modules.scheduling.schedule import light_steps, plan, segments


def test_letters_are_equal_segments_and_fractions_round_half_up():
    assert "".join(plan("LHHL", 8)) == "LLHHHHLL"
    assert "".join(plan("lhhl", 64)) == "L" * 16 + "H" * 32 + "L" * 16
    assert "".join(plan("L:0.125,H:0.75,L:0.125", 64)) == "L" * 8 + "H" * 48 + "L" * 8
    # 1.25 -> 1 and 8.75 -> 9: boundaries are rounded, so the segments still cover 10 steps
    assert "".join(plan("L:0.125,H:0.75,L:0.125", 10)) == "L" + "H" * 8 + "L"
    assert "".join(plan("L:1/16,H:15/16", 8)) == "L" + "H" * 7  # 0.5 rounds up
    assert "".join(plan("L:0.05,H:0.95", 8)) == "H" * 8  # under half a step: no light step
    assert "".join(plan("H", 5)) == "HHHHH" and light_steps("LHHH", 64) == 16
    assert plan("L2H12L2", 64) == plan("L:1/8,H:3/4,L:1/8", 64) == plan("LLHHHHHHHHHHHHLL", 64)
    assert segments("L:1/8, H:3/4, L:1/8")[1] == ("H", 0.75)


@pytest.mark.parametrize(("bad", "why"), [
    ("LHX", "letters other than H (heavy) and L (light)"),
    ("L:0.5,H:0.4", "the fractions sum to 0.9, not 1"),
    ("L:0,H:1", "the fraction of 'L:0' is not > 0"),
    ("L:x,H:1", "'L:X' is not NETWORK:FRACTION"),
    ("L:1/0,H:1", "'1/0' is not a number"),
    ("L:0.5;H:0.5", "is not NETWORK:FRACTION"),
    ("L0H4", "a count of 0"),
])
def test_a_bad_schedule_is_refused_in_one_line_naming_the_key(bad, why):
    with pytest.raises(ConfigError) as err:
        SCHEDULE.check("method.schedule", bad)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"method.schedule={bad!r} is not allowed: ")
    assert why in line and "L:0.125,H:0.75,L:0.125" in line  # what is allowed


class _Counted:
    """A time-free denoiser that logs the rows it is called on; logits fixed per token."""

    def __init__(self, vocab: int = 5) -> None:
        self.rows: list[int] = []
        self.table = torch.randn(vocab + 1, vocab, generator=torch.Generator().manual_seed(0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(len(x))
        return self.table[x]


def _uniforms(n: int, steps: int, length: int, jump: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((n, steps, length), jump), torch.rand(n, steps, length, generator=torch.Generator().manual_seed(1))


def test_each_network_has_its_own_cache_so_a_switch_calls_and_nothing_is_reused_across():
    # jump 0: every position is unmasked at step 0, nothing changes after step 1's input
    heavy, light = _Counted(), _Counted()
    ju, tu = _uniforms(3, 4, 6, jump=0.0)
    _, calls = masked_sample([heavy, light], 3, 6, mask_id=5, steps=4, jump_u=ju, token_u=tu, plan=[0, 0, 1, 1])
    # H: step 0 (first call), step 1 (x changed at step 0); L: step 2 (its first call), step 3 cached
    assert calls.tolist() == [[2, 1]] * 3 and heavy.rows == [3, 3] and light.rows == [3]
    # jump near 1: nothing changes before the last step; each network calls once, on its first step
    heavy, light = _Counted(), _Counted()
    ju, tu = _uniforms(3, 4, 6, jump=0.999)  # uniforms are < 1: all jump at the last step
    x, calls = masked_sample([heavy, light], 3, 6, mask_id=5, steps=4, jump_u=ju, token_u=tu, plan=[0, 1, 0, 1])
    assert calls.tolist() == [[1, 1]] * 3 and not (x == 5).any()
    # the step after a switch to H sees L's change: H calls again although its own x was unchanged
    heavy, light = _Counted(), _Counted()
    ju, tu = _uniforms(2, 3, 6, jump=0.0)
    _, calls = masked_sample([heavy, light], 2, 6, mask_id=5, steps=3, jump_u=ju, token_u=tu, plan=[1, 0, 0])
    assert calls.tolist() == [[1, 1]] * 2  # L at step 0 unmasks all; H's first call at step 1, cached at 2
    with pytest.raises(ValueError, match="plan: 3 indices"):
        masked_sample([heavy, light], 2, 6, mask_id=5, steps=3, jump_u=ju, token_u=tu, plan=[0, 2, 0])


def _nets() -> tuple[TransformerDenoiser, TransformerDenoiser]:
    torch.manual_seed(0)
    heavy = TransformerDenoiser(7, 12, width=16, depth=2, heads=2, time_input=False).eval()
    light = TransformerDenoiser(7, 12, width=16, depth=1, heads=2, time_input=False).eval()
    return heavy, light


def _flops_of_one_row(net: torch.nn.Module) -> int:
    with countable(), FlopCounterMode(display=False) as counter:  # no fused attention hiding products
        net(torch.zeros(1, 12, dtype=torch.long))
    return int(counter.get_total_flops())


def test_the_ledger_counts_each_networks_calls_and_flops_are_the_sum_over_calls(one_thread):
    heavy, light = _nets()
    method = ScheduledMDLM(heavy, light, steps=16, schedule="L:0.25,H:0.5,L:0.25")
    batch = measure(method, 40, seed=3, repeats=1)
    nets, counters = batch.cost["networks"], batch.counters
    assert set(nets) == {"heavy", "light"}
    assert nets["heavy"]["evals_per_sample"] == pytest.approx(counters["heavy_calls"])
    assert nets["light"]["evals_per_sample"] == pytest.approx(counters["light_calls"])
    assert 1 <= counters["heavy_calls"] <= 8 and 2 <= counters["light_calls"] <= 8  # 8 H steps, 4 + 4 L steps
    per_row = {"heavy": _flops_of_one_row(heavy), "light": _flops_of_one_row(light)}
    assert per_row["light"] < per_row["heavy"]
    expected = sum(nets[k]["evals_per_sample"] * per_row[k] for k in nets)
    assert batch.cost["flops"] == pytest.approx(expected, rel=1e-9)
    # NFE in heavy evaluations: its own calls plus the light calls' FLOPs in its units
    assert batch.cost["largest_network"] == "heavy"
    assert batch.cost["nfe"] == pytest.approx(counters["heavy_calls"]
                                              + counters["light_calls"] * per_row["light"] / per_row["heavy"])


def test_an_all_heavy_schedule_gives_heavy_only_tokens_and_calls_for_the_same_seed(one_thread):
    heavy, light = _nets()
    for steps in (8, 20):
        ours = ScheduledMDLM(heavy, light, steps=steps, schedule="H").generate(30, seed=11)
        mdlm = MDLMMethod(heavy, steps=steps).generate(30, seed=11)
        assert torch.equal(ours.samples, mdlm.samples)
        assert ours.counters["light_calls"] == 0 and ours.nfe == pytest.approx(mdlm.nfe)
    other = ScheduledMDLM(heavy, light, steps=20, schedule="LHHL").generate(30, seed=11)
    assert not torch.equal(other.samples, mdlm.samples)  # the light network's proposals differ


def test_the_light_network_must_be_another_network():
    heavy, _ = _nets()
    with pytest.raises(ConfigError, match="substrate.mdlm_light"):
        ScheduledMDLM(heavy, heavy, steps=8, schedule="LH")


def test_step_importance_is_zero_between_a_network_and_itself_and_binned_by_progress(one_thread):
    from lightning_modules.scheduling.importance import step_importance

    heavy, light = _nets()
    windows = torch.randint(0, 7, (40, 12), generator=torch.Generator().manual_seed(0))
    same = step_importance(heavy, heavy, windows, mask_id=heavy.mask_id, bins=4)
    assert same["progress"] == [0.125, 0.375, 0.625, 0.875] and same["n_windows"] == 40
    assert same["kl"] == pytest.approx([0.0] * 4, abs=1e-12) and same["heavy"] == same["light"]
    other = step_importance(heavy, light, windows, mask_id=heavy.mask_id, bins=4)
    assert other["heavy"] == same["heavy"]  # the same masks for the same seed
    assert all(k > 0 for k in other["kl"]) and all(h > 0 for h in other["kl_hw"])


def test_the_study_writes_the_step_importance_diagnostic_and_the_report_draws_it(smoke_runs, tmp_path):
    import json

    from analysis_runs import copy_run

    from analysis import write_report

    run = copy_run(smoke_runs["text"], tmp_path / "run")
    files = sorted((run / "diagnostics").glob("scheduled-*.json"))
    assert len(files) == 1  # one pair of models
    diag = json.loads(files[0].read_text())
    assert diag["name"] == "step_importance" and diag["arms"] == ["sched"] and set(diag["models"]) == {"mdlm", "mdlm_light"}
    assert len(diag["x"]["values"]) == 16 and [len(p["series"]) for p in diag["panels"]] == [2, 2]
    heavy, light = diag["panels"][0]["series"]
    assert (heavy["label"], light["label"]) == ("heavy", "light")
    assert all(lo <= y <= hi for lo, y, hi in zip(heavy["lo"], heavy["y"], heavy["hi"], strict=True))
    summary = write_report(run)
    assert "diagnostic_step_importance.png" in summary["files"]
    assert (run / "report" / "diagnostic_step_importance.pdf").stat().st_size > 0


def test_a_bad_schedule_in_a_study_stops_it_before_any_compute():
    from sweeps.arms import build_arms

    with pytest.raises(ConfigError) as err:
        build_arms(["experiment=scheduling", "sweep.arms.sched[d1].space.method.schedule=[LHHL,HHXH]",
                    "sweep.only=['sched[d1]']"])
    assert err.value.key == "method.schedule" and err.value.value == "HHXH" and "(in arm sched[d1]" in str(err.value)
