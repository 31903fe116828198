"""The house's structure, checked on the code's syntax tree: sweeps/ and analysis/ never branch
on a track, family, method, model or drafter name (they ask the registries and read the
records), core names no family, and a family is a folder the registry finds by itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lightning_modules.core.plugins import discovered
from lightning_modules.core.registry import DRAFTERS, FAMILIES, METHODS, MODELS, TRACKS

ROOT = Path(__file__).resolve().parent.parent
# Where a name may be matched: the per-track renderers of analysis (registered by track).
ALLOWED = ("analysis/tracks/",)


def registered_names() -> set[str]:
    """Every name an entry is registered under, its family label, and the refiner families'
    pairings and starts (a pairing is a family's word too). Not the method protocol's own
    roles, registered by core (drafter, noise_model, refiner: `"drafter" in spec.needs` asks
    the declaration, as `role == "drafter"` reads a record)."""
    family_models = {name for name, spec in MODELS.items() if not spec.build.__module__.startswith("lightning_modules.core")}
    names = set(TRACKS.names()) | set(METHODS.names()) | family_models | set(DRAFTERS.names())
    names |= set(FAMILIES.names()) | {spec.family for _, spec in METHODS.items()}
    for _, family in FAMILIES.items():
        names |= set(family.pairings) | set(family.starts)
    return names


def _constants(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [c for elt in node.elts for c in _constants(elt)]
    return []


def branches_on_names(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every comparison (==, !=, in, not in, is) against a registered name, and
    of every str.startswith/endswith of one: the shape of `if method == "mdlm"`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                found += [(node.lineno, c) for c in _constants(side) if c in names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith"):
            found += [(node.lineno, c) for arg in node.args for c in _constants(arg) if c in names]
    return found


def test_the_guard_finds_a_planted_branch():
    names = registered_names()
    planted = 'def pick(cfg, rec):\n    if cfg.method.name == "mdlm":\n        return 1\n' \
              '    if rec["track"] in ("text", "images"):\n        return 2\n' \
              '    return rec["params"]["refiner.pairing"] == "independent" or rec["arm"].startswith("ws_dfm")\n'
    assert branches_on_names(planted, names) == [(2, "mdlm"), (4, "text"), (4, "images"), (6, "independent"),
                                                 (6, "ws_dfm")]
    assert branches_on_names('if cfg.sweep.sampler == "grid":\n    pass\n', names) == []  # not a family's word


@pytest.mark.parametrize("folder", ["sweeps", "analysis"])
def test_no_branch_on_a_registered_name_in_sweeps_or_analysis(folder):
    names = registered_names()
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(ALLOWED):
            found += [f"{rel}:{line}: {name!r}" for line, name in branches_on_names(path.read_text(), names)]
    assert found == []


def test_families_are_discovered_from_their_folders_and_core_names_none():
    folders = {p.parent.name for p in (ROOT / "lightning_modules").glob("*/registered.py")}
    assert {m.split(".")[1] for m in discovered() if m.startswith("lightning_modules.")} == folders
    assert {"mdlm", "autoregressive", "continuous", "discrete", "drafters", "tracks"} <= folders
    core = "\n".join(p.read_text() for p in (ROOT / "lightning_modules" / "core").glob("*.py"))
    for family in folders - {"core"}:
        assert f"lightning_modules.{family}" not in core, family
