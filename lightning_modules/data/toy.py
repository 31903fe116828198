"""Generated 2-D toy data sets and their DataModule.

Scale: every set is centred near the origin and lies within [-4, 4]^2, with a per-coordinate
standard deviation between about 0.8 and 2 (so one network width and one learning rate suit all).
Splits are deterministic: train, val and reference draws use disjoint seeds derived from
the data seed, and `reference(n, seed)` never overlaps the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightning as L
import numpy as np
import torch


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    n_out = n // 2
    n_in = n - n_out
    a = rng.uniform(0, np.pi, n_out)
    b = rng.uniform(0, np.pi, n_in)
    outer = np.stack([np.cos(a), np.sin(a)], 1)
    inner = np.stack([1 - np.cos(b), 1 - np.sin(b) - 0.5], 1)
    x = np.concatenate([outer, inner]) + rng.normal(0, 0.05, (n, 2))
    return (x - np.array([0.5, 0.25])) * 2.0


def _eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    angles = np.arange(8) * np.pi / 4
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    k = rng.integers(0, 8, n)
    return centres[k] + rng.normal(0, 0.15, (n, 2))


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) + rng.integers(0, 2, n) * 2.0 - 2.0
    x2 = x2 + (np.floor(x1) % 2)
    return np.stack([x1, x2], 1) * 1.5


def _pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    n_arms, radial_std, tangential_std, rate = 5, 0.3, 0.08, 0.25
    k = rng.integers(0, n_arms, n)
    feats = rng.normal(0, 1, (n, 2)) * np.array([radial_std, tangential_std])
    feats[:, 0] += 1.0
    angle = 2 * np.pi * k / n_arms + rate * np.exp(feats[:, 0])
    c, s = np.cos(angle), np.sin(angle)
    x = np.stack([c * feats[:, 0] - s * feats[:, 1], s * feats[:, 0] + c * feats[:, 1]], 1)
    return 1.7 * x


def _spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    r = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    sign = np.where(rng.uniform(0, 1, n) < 0.5, 1.0, -1.0)
    x = sign[:, None] * np.stack([np.cos(r) * r, np.sin(r) * r], 1) / (3 * np.pi)
    return 3.0 * x + rng.normal(0, 0.05, (n, 2))


def _circles(n: int, rng: np.random.Generator) -> np.ndarray:
    radius = np.where(rng.uniform(0, 1, n) < 0.5, 1.0, 2.5)
    a = rng.uniform(0, 2 * np.pi, n)
    x = radius[:, None] * np.stack([np.cos(a), np.sin(a)], 1)
    return x + rng.normal(0, 0.06, (n, 2))


TOY_DATASETS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "moons": _moons,
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
    "spirals": _spirals,
    "circles": _circles,
}

# Split ids keep the splits disjoint: train, val and every reference draw use their own stream.
_TRAIN, _VAL, _REFERENCE = 0, 1, 2


def make_toy(name: str, n: int, seed: int | list[int]) -> torch.Tensor:
    """Draw n points of toy set `name` as a float32 tensor [n, 2], deterministic in seed."""
    if name not in TOY_DATASETS:
        allowed = ", ".join(sorted(TOY_DATASETS))
        raise ValueError(f"unknown dataset '{name}'; allowed: {allowed}")
    rng = np.random.default_rng(seed)
    return torch.from_numpy(TOY_DATASETS[name](n, rng).astype(np.float32))


class RandomBatches:
    """Endless random minibatches, without DataLoader collate overhead.

    aligned=True draws the same rows of every tensor (precomputed pairs); aligned=False draws
    each tensor independently (e.g. drafts and data that are paired inside the batch).
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int, aligned: bool = True) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.seed = seed
        self.aligned = aligned
        self.skip = 0  # batches already trained on (a resumed training): replayed, not yielded

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        g = torch.Generator().manual_seed(self.seed)
        for _ in range(self.skip):  # the same index draws as the uninterrupted run, without the rows
            for t in self.tensors[:1] if self.aligned else self.tensors:
                torch.randint(0, t.shape[0], (self.batch_size,), generator=g)
        while True:
            if self.aligned:
                idx = torch.randint(0, self.tensors[0].shape[0], (self.batch_size,), generator=g)
                yield tuple(t[idx] for t in self.tensors)
            else:
                yield tuple(t[torch.randint(0, t.shape[0], (self.batch_size,), generator=g)] for t in self.tensors)


class FixedBatches:
    """The first `n` batches of a RandomBatches, drawn once: a validation set that is the same
    at every check."""

    def __init__(self, batches: RandomBatches, n: int = 4) -> None:
        stream = iter(batches)
        self.batches = [next(stream) for _ in range(n)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ToyDataModule(L.LightningDataModule):
    """Train/val splits plus held-out `reference(n, seed)` draws of one toy set."""

    def __init__(
        self, name: str = "moons", n_train: int = 20000, n_val: int = 2000, seed: int = 0,
        batch_size: int = 256,
    ) -> None:
        super().__init__()
        self.name = name
        self.n_train = n_train
        self.n_val = n_val
        self.seed = seed
        self.batch_size = batch_size
        self.dim = 2
        self.train = make_toy(name, n_train, [seed, _TRAIN])
        self.val = make_toy(name, n_val, [seed, _VAL])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def reference(self, n: int, seed: int = 0) -> torch.Tensor:
        """n held-out points for metrics; different seeds give independent draws."""
        return make_toy(self.name, n, [self.seed, _REFERENCE, seed])

    def train_dataloader(self) -> RandomBatches:
        return RandomBatches(self.train, batch_size=self.batch_size, seed=self.seed)
