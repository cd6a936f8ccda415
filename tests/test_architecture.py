"""The package's import graph has no circle (see ARCHITECTURE.md, "Which module may import
which"): imports are read with ast from the sources, lazy ones (inside functions) and type-only
ones (under ``if TYPE_CHECKING:``) included."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "dlscratch"

#: The two edges that close a circle and may stay, each for its reason (both checked below).
ALLOWED = {
    # NeuralNetwork.save/load hand the work to the module above them, imported inside the
    # methods so that `import dlscratch` does not load json, zipfile and tempfile
    ("dlscratch.network", "dlscratch.persistence"): "lazy",
    # the callbacks' type hints name the Trainer that calls them
    ("dlscratch.callbacks", "dlscratch.train"): "type-only",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(modules: dict[str, Path]) -> dict[tuple[str, str], set[str]]:
    """(importer, imported) -> how: "top" (at load), "lazy" (in a function), "type-only"."""
    edges: dict[tuple[str, str], set[str]] = {}

    def visit(node: ast.AST, module: str, package: str, how: str) -> None:
        for child in ast.iter_child_nodes(node):
            kind = how
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                kind = "lazy" if how == "top" else how
            elif isinstance(child, ast.If) and _is_type_checking(child):
                kind = "type-only"
            targets: list[str] = []
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                targets = [target] + [f"{target}.{alias.name}" for alias in child.names]
            elif isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            for target in targets:
                if target in modules and target != module:
                    edges.setdefault((module, target), set()).add(how)
            visit(child, module, package, kind)

    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        visit(ast.parse(path.read_text(encoding="utf-8")), module, package, "top")
    return edges


def cycles(edges) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
EDGES = imports(MODULES)


def test_the_modules_are_read():
    assert {"dlscratch", "dlscratch.layers", "dlscratch.network", "dlscratch.train"} <= set(MODULES)
    assert "top" in EDGES[("dlscratch.network", "dlscratch.layers")]
    assert "lazy" in EDGES[("dlscratch.network", "dlscratch.persistence")]
    assert "type-only" in EDGES[("dlscratch.callbacks", "dlscratch.train")]


def test_no_import_circle_when_the_modules_load():
    assert cycles([edge for edge, how in EDGES.items() if "top" in how]) == []


def test_no_import_circle_counting_every_import_but_the_two_named():
    for edge, how in ALLOWED.items():
        assert EDGES[edge] == {how}, f"{edge} must stay {how}, found {EDGES[edge]}"
    assert cycles([edge for edge in EDGES if edge not in ALLOWED]) == []


def test_no_module_imports_from_the_package_itself():
    # `from dlscratch import X` (or `from . import X` in the package's top folder) inside the
    # package would run __init__ first, which imports every module: import the defining module
    importers = sorted(source for (source, target) in EDGES if target == "dlscratch")
    assert importers == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]
