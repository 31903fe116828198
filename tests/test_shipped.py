"""Weights shipped with the package: `python -m sweeps.ship` writes the text evaluator as
fp16, and a study with an empty cache loads it instead of training one."""

from __future__ import annotations

import torch

from lightning_modules import shipped
from lightning_modules.metrics.feature_net import weights_hash


def test_a_shipped_evaluator_is_loaded_not_trained_and_scores_as_shipped(tmp_path, monkeypatch):
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore
    from sweeps.ship import ship_text_evaluator

    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    key = ship_text_evaluator(["experiment=smoke_text"], log=lambda *_: None)
    state, meta = shipped.load(tmp_path / "shipped" / f"{key}.pt")
    assert all(torch.equal(v, v.half().float()) for v in state.values() if v.is_floating_point())
    info = meta["train"]
    assert info["weights_dtype"] == "float16" and info["val_ppl"] > 1 and meta["curve"].startswith("step")

    # A new machine: an empty cache, nothing trained, the shipped weights and record used.
    cfg = compose(["experiment=smoke_text"])
    logs: list[str] = []
    store = ModelStore(ArtifactCache(tmp_path / "empty"), log=lambda *a: logs.append(" ".join(map(str, a))))
    assert store.key("text_lm", cfg) == key and store.has(key)
    lm = store.get("text_lm", cfg)
    assert not logs and not (tmp_path / "empty").exists()
    assert weights_hash(lm) == info["weights_hash"] == store.train_info[key]["weights_hash"]
    assert store.curve_text(key) == meta["curve"]
    # The machine that shipped it scores with the rounded weights too.
    cached, _ = ArtifactCache(tmp_path / "cache").load(key)
    assert all(torch.equal(cached[k], v) for k, v in state.items())
