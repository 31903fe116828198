"""The cost ledger: which network a method called, how often, on which shapes, at what FLOPs.

Every network a method holds is watched by a forward pre-hook that records the call's
signature (shapes and dtypes of its tensor arguments, values of the others) and its batch.
Recording is a dictionary increment, cheap enough to stay on inside timed runs. FLOPs are
measured afterwards, outside any timed region, once per (network, signature): the call is
replayed on zeros of the recorded shapes under `FlopCounterMode` (matrix products, convolutions
and attention; elementwise work is not counted). A KV-cached step therefore costs what its
cache length makes it cost, and a network called on several batch sizes is measured on each.
Block passes (the unit of a block budget): every transformer block inside a watched network
(`is_block`) is counted per row it runs on, so a cached sampler is charged for the calls it
made and a fixed-point network for the iterations it ran.

The contract a watched network must keep: **the compute of one call is a function of its
signature** (the shapes and dtypes of its tensors and the values of its plain arguments),
never of the values inside its tensors. Compute that varies with the data must show in the
signature: as a plain argument (an iteration count, a cache position `at`), as a shape (the
rows a cache left stale, a prefix length), or as calls of a sub-network the ledger watches
on its own (a block iterated N times, called N times). A network that decides an iteration
count inside a call, or reads ragged per-row positions out of a tensor, would be priced
silently at whatever its zeros cost. `Ledger(..., check=True)` enforces the contract: it
keeps the real inputs of the first `check_calls` calls of each (network, signature) and
`check_contract()` replays them and compares their FLOPs with the zero replay's
(`measure(..., check_ledger=True)` does so for a trial).
"""

from __future__ import annotations

import weakref
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# FLOPs per (network, signature), kept while the network lives: a trained net is measured once
# for all the trials that call it with the same shapes.
_FLOPS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()
COUNTER_PASSES = Counter()  # FLOP-counting replays made, per network name (tests read it)


class LedgerContractError(RuntimeError):
    """A network's FLOPs depend on the values in its inputs, not only on its call's signature."""


def _signature(value: object) -> tuple:
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.device.type)
    if isinstance(value, (tuple, list)):
        return ("seq", type(value).__name__, tuple(_signature(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _signature(v)) for k, v in sorted(value.items())))
    return ("value", value)


def _rebuild(sig: tuple) -> object:
    """Zeros of the recorded shapes (and the recorded plain values) to replay a call on."""
    kind = sig[0]
    if kind == "tensor":
        _, shape, dtype, device = sig
        return torch.zeros(shape, dtype=dtype, device=device)
    if kind == "seq":
        items = [_rebuild(s) for s in sig[2]]
        return items if sig[1] == "list" else tuple(items)
    if kind == "dict":
        return {k: _rebuild(s) for k, s in sig[1]}
    return sig[1]


def _kept(value: object) -> object:
    """A copy of a call's inputs as they were before the call (a KV cache is written in place)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        items = [_kept(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _kept(v) for k, v in value.items()}
    return value


def describe(signature: tuple) -> str:
    """A call's signature as people read it: `(float32[4, 2], 3), {cache: [...]}`."""
    def show(sig: tuple) -> str:
        kind = sig[0]
        if kind == "tensor":
            return f"{str(sig[2]).removeprefix('torch.')}[{', '.join(map(str, sig[1]))}]"
        if kind == "seq":
            inner = ", ".join(show(s) for s in sig[2])
            return f"[{inner}]" if sig[1] == "list" else f"({inner}{',' if len(sig[2]) == 1 else ''})"
        if kind == "dict":
            return "{" + ", ".join(f"{k}: {show(s)}" for k, s in sig[1]) + "}"
        return repr(sig[1])
    return f"{show(signature[0])}, {show(signature[1])}"


def is_block(module: nn.Module) -> bool:
    """A transformer block, the unit of a block budget (CoFRe's cost axis): PyTorch's encoder
    layer or a module that says it is one (`is_block = True`)."""
    return isinstance(module, nn.TransformerEncoderLayer) or getattr(module, "is_block", False) is True


def blocks_in(net: nn.Module) -> int:
    """The transformer blocks one call of `net` passes through, each once (a fixed-point net
    says its own: `blocks_per_call`)."""
    return sum(1 for m in net.modules() if is_block(m))


def _rows(args: tuple) -> int:
    for a in args:
        if isinstance(a, torch.Tensor) and a.dim() > 0:
            return int(a.shape[0])
    return 1


@contextmanager
def countable():
    """Inference without PyTorch's fused transformer path, which hides its products from the counter."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _count(net: nn.Module, args: tuple, kwargs: dict) -> int:
    with countable(), FlopCounterMode(display=False) as counter:
        net(*args, **kwargs)
    return int(counter.get_total_flops())


def flops_of_call(net: nn.Module, signature: tuple) -> int:
    """Measured FLOPs of one call of `net` on the recorded signature (cached per network)."""
    cache = _FLOPS.setdefault(net, {})
    if signature not in cache:
        cache[signature] = _count(net, _rebuild(signature[0]), _rebuild(signature[1]))
        COUNTER_PASSES[getattr(net, "_ledger_name", type(net).__name__)] += 1
    return cache[signature]


@dataclass
class NetworkEntry:
    """One network's calls in one sampling run."""

    net: nn.Module
    calls: Counter = field(default_factory=Counter)  # signature -> calls
    rows: int = 0  # batch rows over all calls (sample-evaluations)
    block_rows: int = 0  # transformer-block passes over all calls, in rows (block budget)
    kept: dict = field(default_factory=dict)  # signature -> real (args, kwargs) of its first calls (check)

    def flops(self) -> int:
        return sum(flops_of_call(self.net, sig) * k for sig, k in self.calls.items())


class Ledger:
    """Watches the named networks while recording (a context), across one or more runs.
    `check`: also keep copies of the real inputs of the first `check_calls` calls of each
    (network, signature) for `check_contract()` (memory: those inputs, until it runs)."""

    def __init__(self, networks: dict[str, nn.Module], *, check: bool = False, check_calls: int = 2) -> None:
        self.networks = {name: net for name, net in networks.items() if isinstance(net, nn.Module)}
        self.check, self.check_calls = check, int(check_calls)
        self.entries: dict[str, NetworkEntry] = {}
        self._handles: list = []

    def reset(self) -> None:
        self.entries = {name: NetworkEntry(net) for name, net in self.networks.items()}

    def __enter__(self) -> Ledger:
        self.reset()
        for name, net in self.networks.items():
            net._ledger_name = name
            self._handles.append(net.register_forward_pre_hook(self._hook(name), with_kwargs=True))
            for block in filter(is_block, net.modules()):
                self._handles.append(block.register_forward_pre_hook(self._block_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):  # noqa: ANN202
        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            entry = self.entries[name]
            signature = (_signature(args), _signature(kwargs))
            entry.calls[signature] += 1
            entry.rows += _rows(args)
            if self.check and entry.calls[signature] <= self.check_calls:
                entry.kept.setdefault(signature, []).append((_kept(args), _kept(kwargs)))
        return record

    def _block_hook(self, name: str):  # noqa: ANN202
        def record(module: nn.Module, args: tuple) -> None:
            self.entries[name].block_rows += _rows(args)
        return record

    def check_contract(self) -> int:
        """Replays the kept calls on their real inputs and compares their FLOPs with the zero
        replay's that priced them; raises LedgerContractError at the first mismatch. Returns
        the number of calls checked; their inputs are dropped (memory). Untimed: not inside a
        timed run."""
        if not self.check:
            raise RuntimeError("Ledger.check_contract() needs a Ledger made with check=True")
        checked = 0
        for name, entry in self.entries.items():
            kept, entry.kept = entry.kept, {}
            for signature, calls in kept.items():
                priced = flops_of_call(entry.net, signature)
                for args, kwargs in calls:
                    real = _count(entry.net, args, kwargs)
                    if real != priced:
                        raise LedgerContractError(
                            f"network '{name}' costs {real} FLOPs on its real inputs but {priced} on zeros of "
                            f"the same signature ({describe(signature)}): its compute depends on the values in "
                            "its tensors; pass what varies as an argument or as calls of a watched sub-network")
                    checked += 1
        return checked

    def breakdown(self, n: int) -> dict[str, dict]:
        """Per network: calls, sample-evaluations and FLOPs per sample, FLOPs per evaluation,
        parameters. Measures FLOPs of signatures not seen before (untimed: call after timing)."""
        out = {}
        for name, entry in self.entries.items():
            if not entry.calls:
                continue
            flops = entry.flops()
            out[name] = {
                "calls": int(sum(entry.calls.values())),
                "evals_per_sample": entry.rows / n,
                "flops_per_sample": flops / n,
                "flops_per_eval": flops / entry.rows if entry.rows else 0.0,
                "shapes": len(entry.calls),
                "block_passes_per_sample": entry.block_rows / n,
                "params": int(sum(p.numel() for p in entry.net.parameters())),
            }
        return out


def nfe_in_largest(networks: dict[str, dict], drafter_flops: float) -> tuple[float, str | None]:
    """Evaluations of the method's largest network per sample, every other network and the
    drafter counted by their FLOPs in its units; (nfe, name of the largest network)."""
    if not networks:
        return (1.0 if drafter_flops > 0 else 0.0), None
    largest = max(networks, key=lambda k: networks[k]["flops_per_eval"])
    unit = networks[largest]["flops_per_eval"]
    if unit <= 0:
        return sum(v["evals_per_sample"] for v in networks.values()), largest
    nfe = networks[largest]["evals_per_sample"]
    nfe += sum(v["flops_per_sample"] for k, v in networks.items() if k != largest) / unit
    return nfe + drafter_flops / unit, largest
