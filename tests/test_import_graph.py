"""The packages' imports form no circle (analysis, sweeps, lightning_modules).

The graph is read from the source (every import statement anywhere in a module: at the
top, inside functions, under ``TYPE_CHECKING``), so an import moved into a function to
dodge a circle at run time still counts: a circle means code sits in the wrong module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "analysis"


def module_names(package: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of ``package`` (a package is its
    ``__init__``)."""
    names = {}
    for file in package.rglob("*.py"):
        parts = file.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return names


def imported(file: Path, name: str) -> set[str]:
    """The dotted names ``file`` (module ``name``) imports, relative imports resolved; for
    ``from X import y``, both ``X`` and ``X.y`` (which is a module when ``y`` is one)."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            out |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    """``{module: modules of the same package it imports}`` (self-imports left out)."""
    modules = module_names(package)
    return {
        name: {m for m in imported(file, name) if m in modules and m != name}
        for name, file in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start)
        if found:
            return found
    return None


def test_the_finder_sees_circles_through_function_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("import os\nfrom ..a import x\n")
    graph = import_graph(pkg)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub", "pkg.sub.c"},
                     "pkg.sub": set(), "pkg.sub.c": {"pkg.a"}}  # fmt: skip
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
    (pkg / "sub" / "c.py").write_text("import os\n")
    assert find_cycle(import_graph(pkg)) is None


@pytest.mark.parametrize("package, known", [("analysis", ("analysis.load", "analysis.tracks.images")),
                                             ("sweeps", ("sweeps.config", "sweeps.key_overrides")),
                                             ("lightning_modules", ("lightning_modules.core.registry",
                                                                    "lightning_modules.mdlm.registered"))])
def test_no_package_has_an_import_cycle(package, known):
    graph = import_graph(ROOT / package)
    assert set(known) <= set(graph)  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle in {package}: " + " -> ".join(cycle or [])
