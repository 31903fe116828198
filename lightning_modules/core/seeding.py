"""Per-sample random streams: sample i depends only on (seed, stream, i).

Two methods given the same seed therefore see the same noise and the same drafts, whatever
the batch size or chunking (the NVlabs/edm `--seeds` convention).
"""

from __future__ import annotations

import functools

import torch

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _stream_id(stream: str) -> int:
    h = 0
    for ch in stream.encode():
        h = _splitmix64(h ^ ch)
    return h


def sample_seed(seed: int, stream: str, index: int) -> int:
    """The generator seed of sample `index` in `stream` (fits torch's 63-bit seeds)."""
    return _splitmix64(_splitmix64(seed ^ _stream_id(stream)) ^ index) >> 1


@functools.lru_cache(maxsize=64)
def _draw(kind: str, seed: int, stream: str, start: int, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    g = torch.Generator()
    rows = []
    fn = torch.randn if kind == "randn" else torch.rand
    for i in range(start, start + n):
        g.manual_seed(sample_seed(seed, stream, i))
        rows.append(fn(shape, generator=g))
    return torch.stack(rows) if rows else torch.empty((0, *shape))


def randn(n: int, *shape: int, seed: int, stream: str, start: int = 0) -> torch.Tensor:
    """Standard normal [n, *shape]; row i is drawn from the generator of sample start + i."""
    return _draw("randn", seed, stream, start, n, tuple(shape)).clone()


def rand(n: int, *shape: int, seed: int, stream: str, start: int = 0) -> torch.Tensor:
    """Uniform [0, 1) [n, *shape]; row i is drawn from the generator of sample start + i."""
    return _draw("rand", seed, stream, start, n, tuple(shape)).clone()
