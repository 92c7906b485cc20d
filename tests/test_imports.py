"""No import circle among the implicit_bias modules (issue 14 §3).

Each module's imports are read with ``ast`` (nothing is imported) and turned into a graph of
module → module edges. ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else
to ``pkg``. The implicit import of a parent package by its submodules is not an edge (Python runs a
package's ``__init__`` before its submodules; a submodule importing a sibling is not a circle).

Two graphs are checked: the imports run at import time (module level, class bodies, ``if``/``try``
at module level), and all imports including the lazy ones inside functions. Imports done by name
at run time (``importlib.import_module``: the experiment registry, the lazy public names of
``implicit_bias/__init__``) are invisible to ``ast`` and not part of either graph.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "implicit_bias"


def _modules() -> dict[str, Path]:
    found = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = f
    return found


def _imports(name: str, path: Path, modules: dict, lazy: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    here = name if is_pkg else name.rsplit(".", 1)[0]

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (lazy or not in_function):
                yield child
            yield from visit(child, nested)

    out = set()
    for node in visit(tree, False):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        for t in targets:
            while (
                t and t not in modules
            ):  # `import a.b.c` of an outside package: drop; inside: nearest module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph (as a list of nodes), or None if it is acyclic."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def dfs(u):
        colour[u] = GREY
        stack.append(u)
        for v in sorted(graph[u]):
            if colour[v] == GREY:
                return stack[stack.index(v) :] + [v]
            if colour[v] == WHITE and (found := dfs(v)):
                return found
        stack.pop()
        colour[u] = BLACK
        return None

    for u in sorted(graph):
        if colour[u] == WHITE and (found := dfs(u)):
            return found
    return None


def _graph(lazy: bool) -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules, lazy) for m, p in modules.items()}


@pytest.mark.parametrize("lazy", [False, True], ids=["import-time", "with-lazy-imports"])
def test_no_import_cycle(lazy):
    graph = _graph(lazy)
    assert "implicit_bias.optim.api" in graph and "implicit_bias.cluster" in graph
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " → ".join(cycle)


def test_cycle_finder_finds_a_planted_cycle():
    """The checker itself: a circle added to the real graph is found (a finder that always says
    'acyclic' would fail here)."""
    graph = _graph(lazy=True)
    graph["implicit_bias.optim.gd"].add("implicit_bias.optim.api")
    cycle = _cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert {"implicit_bias.optim.gd", "implicit_bias.optim.api"} <= set(cycle)


def test_methods_never_import_the_dispatcher():
    graph = _graph(lazy=True)
    for method in ("gd", "flow", "sgd", "trajectory", "batching", "objective", "reduction"):
        deps = graph[f"implicit_bias.optim.{method}"]
        assert "implicit_bias.optim.api" not in deps and "implicit_bias.optim" not in deps, method
