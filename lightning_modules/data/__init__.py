"""Datasets: generated 2-D toy sets (more tracks come later)."""

from lightning_modules.data.toy import TOY_DATASETS, ToyDataModule, make_toy

__all__ = ["TOY_DATASETS", "ToyDataModule", "make_toy"]
