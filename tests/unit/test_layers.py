"""The import graph: layers only point down (reelflow < tasks < flows < deployments, api <
the CLI) and no module imports itself through others. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reelflow", "tasks", "flows", "deployments", "api")
RANK = {"reelflow": 0, "tasks": 1, "flows": 2, "deployments": 3, "api": 3}


def rank(module: str) -> int:
    return 4 if module.startswith("reelflow.cli") else RANK[module.split(".")[0]]


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports, resolved to the longest known module name."""
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    out = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def test_no_import_reaches_up_a_layer():
    edges = graph()
    upward = sorted(f"{a} -> {b}" for a, bs in edges.items() for b in bs if rank(b) > rank(a))
    assert upward == []


def test_no_import_cycles():
    edges = graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_walk_sees_imports_inside_functions():
    """The checks above would pass on an empty graph: make sure it holds known edges."""
    edges = graph()
    assert "flows.clip" in edges["reelflow.cli.process"], "imported inside a function"
    assert "reelflow.manifest" in edges["tasks.publish"]
    assert sum(len(v) for v in edges.values()) > 150
