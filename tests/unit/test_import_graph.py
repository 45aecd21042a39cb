"""Import circles among the project's Python modules and the dashboard's ES modules.

Every `import`/`from ... import` in services/, contracts/ and workflows/ counts, including
the ones inside functions (they hide a circle, they do not remove it); so do the dashboard's
static `import ... from "./x.js"` and dynamic `import("../lib/x.js")`, each module named by
its path under the dashboard folder. The strongly connected components of more than one
module are the circles.

`KNOWN_CIRCLES` holds the circles that exist today (issue 18 removes them one by one): the
test fails on any other circle, on a known one that grew, and on a known one that is gone
(then delete its line). Run `python -m tests.unit.test_import_graph` to print the circles.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "contracts", "workflows")
DASHBOARD = ROOT / "services" / "trigger" / "dashboard"
KNOWN_CIRCLES: list[frozenset[str]] = []
_JS_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.\.?/[\w./-]+\.js)["']""", re.M
)


def _module(path: Path) -> str:
    """services/ and contracts/ are installed as workflows.services and workflows.contracts."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("services", "contracts"):
        parts.insert(0, "workflows")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in the file)."""
    paths = {
        _module(p): p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if "node_modules" not in p.parts
        and not (ROOT / pkg / p.relative_to(ROOT / pkg).parts[0]).is_symlink()
    }
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def dashboard_graph() -> dict[str, set[str]]:
    """dashboard module -> the dashboard modules it imports (static or dynamic)."""
    files = {p.relative_to(DASHBOARD).as_posix(): p for p in DASHBOARD.rglob("*.js")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = {
            (path.parent / m).resolve().relative_to(DASHBOARD.resolve()).as_posix()
            for m in _JS_IMPORT.findall(path.read_text(encoding="utf-8"))
        }
        graph[name] = targets & files.keys()
    return graph


def circles(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_the_circle_finder_finds_a_circle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_but_the_known_ones() -> None:
    found = circles(python_graph()) + circles(dashboard_graph())
    new = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CIRCLES)]
    assert not new, f"new import circles (point the imports down instead): {new}"
    gone = [sorted(k) for k in KNOWN_CIRCLES if not any(k <= c for c in found)]
    assert not gone, f"these circles are gone or smaller: update KNOWN_CIRCLES: {gone}"


if __name__ == "__main__":
    for circle in circles(python_graph()) + circles(dashboard_graph()):
        print(len(circle), sorted(circle))
