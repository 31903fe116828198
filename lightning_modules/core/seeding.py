"""Per-sample random streams: sample i depends only on (seed, stream, i, row shape, device type).

Two methods given the same seed therefore see the same noise and the same drafts, whatever
the batch size or chunking (the NVlabs/edm `--seeds` convention).

How, cheaply: the samples of a stream are cut into fixed blocks of `block_rows(row)` indices
(a function of the row's size only, never of n); each block is one batched draw from a
generator seeded by (seed, stream, block). A call draws the blocks covering [start, start+n)
and slices. Seeding one generator per sample instead costs ~5 us a row, 100-1000x a batched
draw for small rows; blocks keep the cost within `benchmarks/draws.py`'s measured ratio while
keeping rows independent of n. Nothing is cached: the draws are part of the timed sampler.
CPU and CUDA generators differ, so samples made on a GPU differ from those made on a CPU.
"""

from __future__ import annotations

import functools
import math

import torch

_MASK = (1 << 64) - 1
# The streams' layout: a model trained on drafts from them (a warm-start refiner) carries it in
# its cache key, so a change of layout retrains it instead of reusing one trained on other drafts.
DRAWS = "blocks-v1"
# Elements per block: large enough that one generator seeding (~5 us) is small against the
# draw, small enough that drawing a whole block for a few samples stays cheap.
BLOCK_ELEMENTS = 1 << 16
MAX_BLOCK_ROWS = 4096


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=256)  # a pure function of the name; draws are never cached
def _stream_id(stream: str) -> int:
    h = 0
    for ch in stream.encode():
        h = _splitmix64(h ^ ch)
    return h


def sample_seed(seed: int, stream: str, index: int) -> int:
    """The generator seed of block (or sample) `index` in `stream` (fits torch's 63-bit seeds)."""
    return _splitmix64(_splitmix64(seed ^ _stream_id(stream)) ^ index) >> 1


@functools.lru_cache(maxsize=256)
def block_rows(row_elements: int) -> int:
    """Samples per block for rows of `row_elements` values: a power of two in [1, 4096]."""
    rows = max(1, BLOCK_ELEMENTS // max(1, row_elements))
    return min(MAX_BLOCK_ROWS, 1 << int(math.log2(rows)))


_GENERATORS: dict[torch.device | None, torch.Generator] = {}


def _generator(device: torch.device | None) -> torch.Generator:
    # One reused generator per device: creating one per call costs as much as a small draw.
    if device not in _GENERATORS:
        _GENERATORS[device] = torch.Generator(device="cpu" if device is None else device)
    return _GENERATORS[device]


def _draw(kind: str, n: int, shape: tuple[int, ...], seed: int, stream: str, start: int,
          device: torch.device | str | None) -> torch.Tensor:
    # device=None: torch's default device with a CPU generator (asking torch for its default
    # device costs as much as a small draw); a default device elsewhere then fails loudly.
    device = None if device is None else torch.device(device)
    if n == 0:
        return torch.empty((0, *shape), device=device)
    per = block_rows(math.prod(shape))
    g = _generator(device)
    fill = torch.randn if kind == "randn" else torch.rand
    first, last = start // per, (start + n - 1) // per
    parts = []
    for block in range(first, last + 1):
        g.manual_seed(sample_seed(seed, stream, block))
        rows = fill((per, *shape), generator=g, device=device)
        lo, hi = max(start, block * per), min(start + n, (block + 1) * per)
        parts.append(rows[lo - block * per:hi - block * per])
    # One block: a view of it (no copy); several: one concatenation.
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def randn(n: int, *shape: int, seed: int, stream: str, start: int = 0,
          device: torch.device | str | None = None) -> torch.Tensor:
    """Standard normal [n, *shape] on `device`; row i belongs to sample start + i."""
    return _draw("randn", n, tuple(shape), seed, stream, start, device)


def rand(n: int, *shape: int, seed: int, stream: str, start: int = 0,
         device: torch.device | str | None = None) -> torch.Tensor:
    """Uniform [0, 1) [n, *shape] on `device`; row i belongs to sample start + i."""
    return _draw("rand", n, tuple(shape), seed, stream, start, device)
