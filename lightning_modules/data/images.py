"""Image data: scikit-learn's bundled 8x8 digits by default; MNIST, CIFAR-10 and an image folder
from local files (opt-in; nothing is downloaded).

Every image tensor is float32 [n, C, H, W] scaled to [-1, 1]. Splits are fixed by the data
seed: a permutation of the whole set cut into train / val / reference. The reference split
is held out from training and is what FID compares against.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import lightning as L
import numpy as np
import torch

IMAGE_DATASETS = ("digits", "mnist", "cifar10", "folder")


class MissingDataError(FileNotFoundError):
    """A dataset's files are not where the config says; the message says where to put them."""


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32) / 16.0  # pixel values 0..16
    return x[:, None], d.target.astype(np.int64)


def _load_mnist(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from `mnist.npz` (keras layout: x_train, y_train, x_test, y_test) under root."""
    path = root / "mnist.npz"
    if not path.exists():
        raise MissingDataError(f"data.root={root}: put mnist.npz (arrays x_train, y_train, x_test, y_test) there")
    with np.load(path) as f:
        x = np.concatenate([f["x_train"], f["x_test"]]).astype(np.float32) / 255.0
        y = np.concatenate([f["y_train"], f["y_test"]]).astype(np.int64)
    return x[:, None], y


def _load_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from the python batches (data_batch_1..5, test_batch) under root."""
    files = [root / f"data_batch_{i}" for i in range(1, 6)] + [root / "test_batch"]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise MissingDataError(f"data.root={root}: put the CIFAR-10 python batches there (missing {', '.join(missing)})")
    xs, ys = [], []
    for f in files:
        with f.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")  # noqa: S301 - the user's own dataset files
        xs.append(np.asarray(batch[b"data"], dtype=np.float32).reshape(-1, 3, 32, 32) / 255.0)
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _load_folder(root: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every PNG/JPEG under root, resized to size x size RGB; label = index of its sub-folder."""
    from PIL import Image

    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not paths:
        raise MissingDataError(f"data.root={root}: no .png/.jpg images found there")
    classes = {c: i for i, c in enumerate(sorted({p.parent.name for p in paths}))}
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
                  for p in paths]).transpose(0, 3, 1, 2)
    return x, np.array([classes[p.parent.name] for p in paths], dtype=np.int64)


def load_images(name: str, root: str | None = None, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(images in [0, 1] [n, C, H, W], labels [n]) of a named dataset."""
    if name == "digits":
        return _load_digits()
    if root is None:
        raise MissingDataError(f"data.root=null: data={name} reads local files; set data.root to their folder")
    root_path = Path(root).expanduser()
    if name == "mnist":
        return _load_mnist(root_path)
    if name == "cifar10":
        return _load_cifar10(root_path)
    if name == "folder":
        return _load_folder(root_path, size)
    raise ValueError(f"unknown image dataset '{name}'; allowed: {', '.join(IMAGE_DATASETS)}")


class ImageDataModule(L.LightningDataModule):
    """Fixed train / val / reference splits of an image set, scaled to [-1, 1].

    Attributes: `train`, `val`, `ref` image tensors and `train_labels`, `val_labels`,
    `ref_labels`. `reference(n, seed)` returns n reference images (all of them, in a
    seeded order, when n >= the split size: a finite set cannot give more).
    """

    def __init__(self, name: str = "digits", *, n_val: int = 197, n_ref: int = 600, seed: int = 0,
                 root: str | None = None, size: int = 32, limit: int | None = None) -> None:
        super().__init__()
        x, y = load_images(name, root, size)
        order = np.random.default_rng(seed).permutation(len(x))
        if limit:
            order = order[:limit]
        if n_val + n_ref >= len(order):
            raise ValueError(f"data.n_val + data.n_ref = {n_val + n_ref}: must be below the set size {len(order)}")
        x = torch.from_numpy(x[order] * 2.0 - 1.0)
        y = torch.from_numpy(y[order])
        self.name, self.seed = name, seed
        self.ref, self.ref_labels = x[:n_ref], y[:n_ref]
        self.val, self.val_labels = x[n_ref:n_ref + n_val], y[n_ref:n_ref + n_val]
        self.train, self.train_labels = x[n_ref + n_val:], y[n_ref + n_val:]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def reference(self, n: int, seed: int = 0) -> torch.Tensor:
        perm = torch.randperm(len(self.ref), generator=torch.Generator().manual_seed(seed))
        return self.ref[perm[: min(n, len(self.ref))]]
