"""Datasets: generated 2-D toy sets and image sets (digits bundled; MNIST, CIFAR-10, folders from files)."""

from lightning_modules.data.images import IMAGE_DATASETS, ImageDataModule, MissingDataError
from lightning_modules.data.toy import TOY_DATASETS, ToyDataModule, make_toy

__all__ = ["IMAGE_DATASETS", "TOY_DATASETS", "ImageDataModule", "MissingDataError", "ToyDataModule", "make_toy"]
