"""The import graph of both packages: no circles, no import from a lower layer to a higher one.

Every import counts, function-level and ``TYPE_CHECKING`` ones included: a lazy import still ties
two modules together. The graph is read with :mod:`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hwprune", "hwmodel")

# hwprune's sub-packages (and top-level modules) by layer: a module may import from its own layer
# and the layers below, never from above. The package root (the lazy public API) may be imported
# from anywhere.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "io", "ir", "models", "runtime"),
    ("frontend", "analysis", "train"),
    ("transforms", "emit"),
    ("lower", "pruning", "traced"),
    ("planning",),
    ("vitis", "report", "ofa", "pipeline"),
    ("optimize",),
    ("cli", "__main__"),
)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports (resolved to the longest known module name)."""
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                parts = base.split(".")
                src = ".".join(parts[: len(parts) - node.level + 1] + ([src] if src else []))
            targets = [src] + [f"{src}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _leaf(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without package ``__init__`` modules (re-exports are not dependencies of their own)."""
    inits = {n for n in graph if (ROOT / n.replace(".", "/") / "__init__.py").is_file()}
    return {n: {d for d in deps if d not in inits} for n, deps in graph.items() if n not in inits}


def test_no_import_circles():
    cycles = _cycles(_leaf(_graph()))
    assert not cycles, "modules that import each other (directly or through others): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "hwprune" or len(parts) < 2:
        return None
    for i, members in enumerate(LAYERS):
        if parts[1] in members:
            return i
    raise AssertionError(f"{module}: hwprune.{parts[1]} has no layer in {__file__}'s LAYERS; add it")


def test_no_upward_imports():
    bad = []
    for module, deps in _graph().items():
        mine = _layer(module)
        if mine is None:
            continue
        for dep in deps:
            theirs = _layer(dep)
            if theirs is not None and theirs > mine:
                bad.append(f"{module} (layer {mine}) imports {dep} (layer {theirs})")
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(bad))


def test_hwmodel_knows_nothing_of_torch_or_hwprune():
    bad = []
    for module, path in _modules().items():
        if not module.startswith("hwmodel"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            )
            bad += [f"{module} imports {n}" for n in names if n.split(".")[0] in ("torch", "hwprune")]
    assert not bad, "\n".join(bad)


def test_the_checker_finds_a_circle_and_an_upward_import():
    graph = {"hwprune.ir.a": {"hwprune.ir.b"}, "hwprune.ir.b": {"hwprune.ir.a"}, "hwprune.cli": set()}
    assert _cycles(graph) == [["hwprune.ir.a", "hwprune.ir.b"]]
    assert _layer("hwprune.ir.graph") < _layer("hwprune.planning.planner") < _layer("hwprune.cli")
