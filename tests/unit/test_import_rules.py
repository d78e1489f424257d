"""The import rules of docs/architecture.md, checked on the source (AST, nothing imported):

- no import cycle among the modules of `src/caudal` (imports inside functions count too);
- `caudal.platform` imports no capability: only itself and the root package (`__version__`).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((SRC / "caudal").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _known(name: str) -> str | None:
    """The deepest module of ours that `name` designates (a name imported from a module
    designates the module itself)."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the modules of ours it imports, wherever in the file the import stands."""
    edges: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node)
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                target = _known(name)
                # a package's own __init__ runs before its modules: not an edge of the module
                if target and target != module and not module.startswith(target + "."):
                    targets.add(target)
        edges[module] = frozenset(targets)
    return edges


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_a_cycle() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_the_graph_reads_every_module() -> None:
    edges = graph()
    assert "caudal.platform.http.app" in edges
    assert "caudal.platform.bootstrap" in edges["caudal.platform.http.app"]


def test_no_import_cycle_in_src() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (each line: modules importing each other):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_platform_imports_no_capability() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module.startswith("caudal.platform")
        for target in targets
        if target != "caudal" and not target.startswith("caudal.platform")
    )
    assert upward == [], "platform/ must not know the capabilities:\n" + "\n".join(upward)
