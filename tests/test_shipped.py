"""Weights shipped with the package: `python -m sweeps.ship` writes the text substrate (the
evaluator and the baselines) as fp16, and a study with an empty cache loads it instead of
training one."""

from __future__ import annotations

import pytest
import torch

from lightning_modules import shipped
from lightning_modules.metrics.feature_net import weights_hash

ARMS = ("sweep.arms={mdlm: {set: [method=mdlm, method.steps=4], space: {}}, "
        "ar: {set: [method=autoregressive], space: {}}}")


def test_the_shipped_substrate_is_loaded_not_trained_and_scores_as_shipped(tmp_path, monkeypatch):
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore
    from sweeps.ship import ship
    from sweeps.study import train_only

    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    overrides = ["experiment=smoke_text", ARMS]
    logs: list[str] = []
    assert ship(overrides, log=logs.append) == []  # nothing trained: nothing shipped, nothing trained here
    assert sum("not trained yet" in line for line in logs) == 3 and not (tmp_path / "cache").exists()

    train_only(overrides, log=lambda *_: None)
    keys = ship(overrides, log=lambda *_: None)
    assert [k.split("-")[0] for k in keys] == ["text_lm", "mdlm", "ar"]
    for key in keys:
        state, meta = shipped.load(tmp_path / "shipped" / f"{key}.pt")
        assert all(torch.equal(v, v.half().float()) for v in state.values() if v.is_floating_point())
        info = meta["train"]
        assert info["weights_dtype"] == "float16" and meta["curve"].startswith("step")
        fit = "val_ppl" if key.startswith("text_lm") else "val_bits_per_char"
        # measured again on the rounded weights, beside the fp32 value: close, and both kept
        assert info[fit] == pytest.approx(info[f"trained_{fit}"], rel=1e-2) and info[fit] > 0
    assert ship(overrides, log=logs.append) == [] and logs[-1].endswith("already shipped")

    # A new machine: an empty cache, nothing trained, the shipped weights and records used.
    cfg = compose(["experiment=smoke_text", "method=autoregressive"])
    logs.clear()
    store = ModelStore(ArtifactCache(tmp_path / "empty"), log=logs.append)
    for role, key in zip(("text_lm", "ar"), (keys[0], keys[2]), strict=True):
        assert store.key(role, cfg) == key and store.has(key)
        model = store.get(role, cfg)
        _, meta = shipped.load(tmp_path / "shipped" / f"{key}.pt")
        assert weights_hash(model) == meta["train"]["weights_hash"] == store.train_info[key]["weights_hash"]
        assert store.curve_text(key) == meta["curve"]
        # The machine that shipped it scores with the rounded weights too.
        cached, _ = ArtifactCache(tmp_path / "cache").load(key)
        assert all(torch.equal(cached[k], v) for k, v in model.state_dict().items())
    assert not logs and not (tmp_path / "empty").exists()


def test_ship_refuses_a_config_without_shippable_models(tmp_path, monkeypatch):
    from sweeps.errors import ConfigError
    from sweeps.ship import ship

    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="shippable models"):
        ship(["experiment=smoke"])  # drafters and flow models declare no ship
