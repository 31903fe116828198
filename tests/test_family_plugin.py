"""A family is one folder (or one plugin file): tests/plugins/light_family.py adds a text model
with typed knobs initialised from the substrate MDLM, and a two-network method reporting a
counter; it trains, caches, ships and loads again, and runs in a smoke sweep beside mdlm and
ar, with nothing in the package naming it (issue 29, acceptance 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lightning_modules import shipped
from sweeps.cli import main

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugins" / "light_family.py"
ARMS = ("sweep.arms={mdlm: {set: [method=mdlm, method.steps=8], space: {}}, "
        "ar: {set: [method=autoregressive], space: {}}, "
        "light_heavy: {set: [method=light_heavy], space: {method.light_steps: [2, 4]}}}")
OVERRIDES = ["experiment=smoke_text", f"plugin={PLUGIN}", ARMS, "sweep.confirm=false", "substrate.light.steps=5"]


@pytest.fixture()
def unregistered():
    """The plugin's entries leave the process-wide registries after the test."""
    yield
    from lightning_modules.core import plugins, registry
    from sweeps import options

    for name in [n for n, path in plugins._loaded_plugins.items() if path == str(PLUGIN)]:
        del plugins._loaded_plugins[name]  # a later load runs the file again
    registry.METHODS._entries.pop("light_heavy", None)
    registry.MODELS._entries.pop("light", None)
    options.unregister()


def test_a_plugin_family_trains_ships_loads_and_sweeps_beside_the_substrate(workdir, monkeypatch, unregistered):
    from sweeps.cache import ArtifactCache
    from sweeps.config import compose
    from sweeps.models import ModelStore
    from sweeps.ship import ship

    monkeypatch.setattr(shipped, "SHIPPED_DIR", workdir / "shipped")
    (workdir / "shipped").mkdir()
    monkeypatch.setenv("WSBENCH_CACHE", str(workdir / "cache"))
    assert main(["sweep", "-q", *OVERRIDES]) == 0
    records = [json.loads(line) for line in (workdir / "runs" / "smoke_text" / "trials.jsonl").read_text().splitlines()]
    assert sorted(r["arm"] for r in records) == ["ar", "light_heavy", "light_heavy", "mdlm"]
    assert all(r["state"] == "COMPLETE" for r in records)
    for r in (r for r in records if r["arm"] == "light_heavy"):
        cost, share = r["cost"], r["params"]["method.light_steps"] / 8
        assert cost["counters"] == {"light_share": share}
        nets = cost["networks"]
        assert set(nets) == {"light", "mdlm"}  # the ledger prices both networks
        assert nets["light"]["evals_per_sample"] == pytest.approx(8 * share)
        assert nets["mdlm"]["evals_per_sample"] == pytest.approx(8 * (1 - share))
        assert cost["flops"] == pytest.approx(sum(v["flops_per_sample"] for v in nets.values()))
        assert r["train"]["light"]["parent"] == r["train"]["mdlm"]["key"]
    summary = json.loads((workdir / "runs" / "smoke_text" / "report" / "summary.json").read_text())
    assert "light_share" in json.dumps(summary)  # the counter reaches the report

    # Its cache key holds its parent's: another MDLM makes another light model.
    cfg = compose(OVERRIDES)
    store = ModelStore(ArtifactCache(workdir / "cache"))
    key = store.key("light", cfg)
    assert key != store.key("light", compose([*OVERRIDES, "substrate.mdlm.seed=7"]))
    # Shipped like the substrate, then loaded on an empty cache without training.
    shipped_keys = ship(OVERRIDES, log=lambda *_: None)
    assert key in shipped_keys and store.key("mdlm", cfg) in shipped_keys
    logs: list[str] = []
    fresh = ModelStore(ArtifactCache(workdir / "empty"), log=logs.append)
    model = fresh.get("light", cfg)
    state, _ = shipped.load(workdir / "shipped" / f"{key}.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items()) and not logs
    # Nothing in the package names the family.
    package = [p for d in ("lightning_modules", "sweeps", "analysis") for p in (ROOT / d).rglob("*.py")]
    assert not [p for p in package if "light_heavy" in p.read_text() or "light_family" in p.read_text()]
