"""Test environment: nothing lands in ~ (W&B, matplotlib, torch hub, our model cache)."""

import os
import tempfile

import pytest

_TMP = tempfile.mkdtemp(prefix="wsbench-tests-")
for var, sub in (("WANDB_DIR", "wandb"), ("MPLCONFIGDIR", "mpl"), ("TORCH_HOME", "torch"), ("WSBENCH_CACHE", "cache")):
    os.environ.setdefault(var, os.path.join(_TMP, sub))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """Run in a fresh folder, so runs/ lands in tmp."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def one_thread():
    """Small nets run fastest (and reproducibly) on one torch thread; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
