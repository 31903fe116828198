"""The ledger's contract: a watched call's compute is a function of its signature. A network
whose FLOPs follow the values in its tensors is priced silently at what its zeros cost;
the check replays real inputs and names it. Every built-in method keeps the contract."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from lightning_modules.core import ledger as ledger_mod
from lightning_modules.core.cost import measure
from lightning_modules.core.ledger import Ledger, LedgerContractError, describe
from lightning_modules.core.method import Method

pytestmark = pytest.mark.usefixtures("one_thread")


class Looped(nn.Module):
    """Decides its own iteration count from its input's values: breaks the contract."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(int(x.abs().sum()) % 3 + 1):
            x = self.block(x)
        return x


class Counted(nn.Module):
    """The same loop with the count as an argument: keeps the contract."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, passes: int) -> torch.Tensor:
        for _ in range(passes):
            x = self.block(x)
        return x


class Calls(Method):
    name = "calls"

    def __init__(self, net: nn.Module) -> None:
        torch.manual_seed(0)
        self.net = net

    def refine(self, drafts, n, seed):  # noqa: ANN001, ANN201
        x = torch.ones(n, 4)  # |x| sums to 4n: with n = 4, 16 % 3 + 1 = 2 passes (zeros: 1)
        if isinstance(self.net, Counted):
            return self.net(x, int(x.abs().sum()) % 3 + 1), 1.0
        return self.net(x), 1.0


LINEAR = 2 * 4 * 4 * 4  # one Linear(4, 4) pass over 4 rows


def test_a_network_whose_flops_follow_its_input_values_is_mispriced_without_the_check():
    cost = measure(Calls(Looped()), 4, 0, repeats=1).cost
    assert cost["flops"] == LINEAR / 4  # one pass priced, two ran: what the check is for


def test_the_check_names_the_network_the_signature_and_both_counts():
    with pytest.raises(LedgerContractError) as caught:
        measure(Calls(Looped()), 4, 0, repeats=1, check_ledger=True)
    message = str(caught.value)
    assert "network 'net'" in message and "(float32[4, 4],), {}" in message
    assert f"costs {2 * LINEAR} FLOPs on its real inputs but {LINEAR} on zeros" in message


def test_what_varies_passed_as_an_argument_keeps_the_contract():
    cost = measure(Calls(Counted()), 4, 0, repeats=1, check_ledger=True).cost
    assert cost["flops"] == 2 * LINEAR / 4  # priced right: the count is in the signature


def test_the_check_replays_the_first_calls_of_each_signature_and_changes_nothing():
    from test_ledger import TwoNets  # heavy twice, light three times, one shape each

    method = TwoNets()
    with torch.inference_mode(), Ledger(method.networks(), check=True, check_calls=2) as ledger:
        method.refine(None, 4, 0)
    assert {k: [len(v) for v in e.kept.values()] for k, e in ledger.entries.items()} == {"heavy": [2], "light": [2]}
    with torch.inference_mode():
        assert ledger.check_contract() == 4  # two calls kept per (network, signature)
    assert all(not e.kept for e in ledger.entries.values())  # their copies are freed once checked
    with torch.inference_mode(), Ledger(method.networks()) as unchecked:
        method.refine(None, 4, 0)
    assert not any(e.kept for e in unchecked.entries.values())  # nothing kept by default
    with pytest.raises(RuntimeError, match="check=True"):
        unchecked.check_contract()
    checked = measure(TwoNets(), 4, 0, repeats=1, check_ledger=True)
    plain = measure(TwoNets(), 4, 0, repeats=1)
    assert checked.cost["networks"] == plain.cost["networks"]
    assert torch.equal(checked.samples, plain.samples) and checked.cost["flops"] == plain.cost["flops"]


def test_the_check_runs_before_the_timed_runs_and_never_inside_them(monkeypatch):
    from test_ledger import TwoNets

    from lightning_modules.core import cost as cost_mod

    events = []
    real_clock, real_count = time.perf_counter, ledger_mod._count
    monkeypatch.setattr(cost_mod.time, "perf_counter", lambda: events.append("clock") or real_clock())
    monkeypatch.setattr(ledger_mod, "_count", lambda *a: events.append("replay") or real_count(*a))
    measure(TwoNets(), 4, 7, repeats=2, check_ledger=True)
    first, last = events.index("clock"), len(events) - 1 - events[::-1].index("clock")
    assert events[:first].count("replay") == 2 + 4 == events.count("replay")  # zeros of each net, 4 real calls
    assert "replay" not in events[first:last + 1] and events.count("clock") == 2 * 3


def test_a_signature_reads_as_shapes_and_values():
    sig = (ledger_mod._signature((torch.zeros(2, 3), 5, [torch.zeros(1, dtype=torch.long)])),
           ledger_mod._signature({"at": 3}))
    assert describe(sig) == "(float32[2, 3], 5, [int64[1]]), {at: 3}"


SMOKE = ("smoke", "smoke_digits", "smoke_text")  # one per track: points, images, text


@pytest.mark.parametrize("experiment", SMOKE)
def test_every_built_in_method_keeps_the_contract_on_the_smoke_configs(experiment, tmp_path):  # noqa: ANN001
    """Untrained nets of the smoke sizes (the contract is about structure, not weights) and
    the fitted drafters; n = 8 samples at each method's smoke settings."""
    from lightning_modules.core.registry import METHODS, MODELS, build_method
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore, track_of
    from sweeps.trial import knob_settings

    store = ModelStore(ArtifactCache(tmp_path / "cache"), log=lambda *_: None)
    base = compose([f"experiment={experiment}"])
    kind = track_of(base).kind
    built_in = [n for n, s in METHODS.items() if s.source.startswith("lightning_modules.") and kind in s.kinds]
    assert built_in
    checked = {}
    for name in built_in:
        cfg = compose([f"experiment={experiment}", f"method.name={name}"])
        models = {}
        for need in METHODS.get(name).needs:
            if need == "drafter":
                models[need] = store.get(need, cfg)
            else:
                torch.manual_seed(0)
                models[need] = MODELS.get(need).build(cfg, store.data(cfg)).eval()
        method = build_method(name, models, knob_settings(cfg))
        with torch.inference_mode(), Ledger(method.networks(), check=True) as ledger:
            method.generate(8, 0)
        checked[name] = ledger.check_contract()
    assert all(checked[n] >= 1 for n in built_in if n != "drafter_only"), checked
