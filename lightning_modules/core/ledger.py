"""The cost ledger: which network a method called, how often, on which shapes, at what FLOPs.

Every network a method holds is watched by a forward pre-hook that records the call's
signature (shapes and dtypes of its tensor arguments, values of the others) and its batch.
Recording is a dictionary increment, cheap enough to stay on inside timed runs. FLOPs are
measured afterwards, outside any timed region, once per (network, signature): the call is
replayed on zeros of the recorded shapes under `FlopCounterMode` (matrix products, convolutions
and attention; elementwise work is not counted). A KV-cached step therefore costs what its
cache length makes it cost, and a network called on several batch sizes is measured on each.
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


def flops_of_call(net: nn.Module, signature: tuple) -> int:
    """Measured FLOPs of one call of `net` on the recorded signature (cached per network)."""
    cache = _FLOPS.setdefault(net, {})
    if signature not in cache:
        args, kwargs = _rebuild(signature[0]), _rebuild(signature[1])
        with countable(), FlopCounterMode(display=False) as counter:
            net(*args, **kwargs)
        cache[signature] = int(counter.get_total_flops())
        COUNTER_PASSES[getattr(net, "_ledger_name", type(net).__name__)] += 1
    return cache[signature]


@dataclass
class NetworkEntry:
    """One network's calls in one sampling run."""

    net: nn.Module
    calls: Counter = field(default_factory=Counter)  # signature -> calls
    rows: int = 0  # batch rows over all calls (sample-evaluations)

    def flops(self) -> int:
        return sum(flops_of_call(self.net, sig) * k for sig, k in self.calls.items())


class Ledger:
    """Watches the named networks while recording (a context), across one or more runs."""

    def __init__(self, networks: dict[str, nn.Module]) -> None:
        self.networks = {name: net for name, net in networks.items() if isinstance(net, nn.Module)}
        self.entries: dict[str, NetworkEntry] = {}
        self._handles: list = []

    def reset(self) -> None:
        self.entries = {name: NetworkEntry(net) for name, net in self.networks.items()}

    def __enter__(self) -> Ledger:
        self.reset()
        for name, net in self.networks.items():
            net._ledger_name = name
            self._handles.append(net.register_forward_pre_hook(self._hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):  # noqa: ANN202
        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            entry = self.entries[name]
            entry.calls[(_signature(args), _signature(kwargs))] += 1
            entry.rows += _rows(args)
        return record

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
