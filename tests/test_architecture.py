"""The layering of `sim/` (docs/architecture.md): which subpackage may import which, no import
cycles, no private name used across modules, and commands that never simulate start light.

The table below is the architecture; docs/architecture.md shows the same table, and a test
keeps the two in step.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "sim"

# layer -> the layers it may import (itself always; `sim` itself only for __version__)
ALLOWED: dict[str, set[str]] = {
    "vocab": set(),
    "spec": {"vocab"},
    "night": {"vocab", "spec"},
    "campaign": {"vocab", "spec", "night"},
    "results": {"vocab"},
    "experiments": {"vocab", "spec", "night", "campaign", "results"},
    "viz": {"vocab", "results"},
    "refdocs": {"vocab", "spec", "results"},
    "analysis": {"vocab", "spec", "night", "campaign", "experiments", "results"},
    "cli": {"vocab", "spec", "night", "campaign", "experiments", "results", "viz", "refdocs",
            "analysis"},
}  # fmt: skip
# start-up: what these commands must never import
HEAVY = ("mesa", "pandas", "pyarrow", "scipy", "matplotlib")
LIGHT_COMMANDS = (["--help"], ["check", "scenarios/aug-2025-night.yaml"], ["catalog"])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The subpackage (or top-level module) of `sim.X.Y`: X; `sim` itself is 'sim'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sim"


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every `sim` import that runs (not under TYPE_CHECKING)."""
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim" or node.module.startswith("sim."):
                found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sim."):
                    found.append((alias.name, [], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SIM.rglob("*.py")}


def import_graph() -> dict[str, list[tuple[str, int]]]:
    """module -> the sim modules it imports (from-imports of submodules resolved)."""
    modules = all_modules()
    graph: dict[str, list[tuple[str, int]]] = {}
    for name, path in modules.items():
        edges = []
        for module, names, line in imports_of(ast.parse(path.read_text(encoding="utf-8"))):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if not targets or len(targets) < len(names):
                targets.append(module)
            edges += [(t, line) for t in targets if t != name]
        graph[name] = edges
    return graph


def test_every_subpackage_is_in_the_table() -> None:
    layers = {layer_of(m) for m in all_modules()} - {"sim", "__main__"}
    assert layers == set(ALLOWED), "add new subpackages to ALLOWED and docs/architecture.md"


def test_subpackages_import_only_the_layers_below_them() -> None:
    forbidden = []
    for module, edges in import_graph().items():
        layer = layer_of(module)
        if layer in ("sim", "__main__"):
            continue
        for target, line in edges:
            other = layer_of(target)
            if other == "sim":  # the package itself: __version__ only
                continue
            if other != layer and other not in ALLOWED[layer]:
                forbidden.append(f"{module}:{line} imports {target} ({layer} -> {other})")
    assert not forbidden, "\n".join(forbidden)


def test_there_is_no_import_cycle() -> None:
    graph = {m: [t for t, _ in edges] for m, edges in import_graph().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt == "sim" or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif state.get(nxt) is None:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            walk(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_can_fail(tmp_path: Path) -> None:
    """The walker above finds a planted cycle (so a passing check means something)."""
    a = ast.parse("from sim.b import x\n")
    b = ast.parse("def f():\n    from sim.a import y\n")
    assert imports_of(a) == [("sim.b", ["x"], 1)]
    assert imports_of(b) == [("sim.a", ["y"], 2)]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sim.c\n")
    assert imports_of(guarded) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    offences = []
    modules = all_modules()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # local name -> sim module it is bound to
        for module, names, line in imports_of(tree):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    offences.append(f"{name}:{line} imports {module}.{n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        bound[alias.asname or alias.name] = full
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offences.append(f"{name}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
    assert not offences, "\n".join(offences)


def test_docs_architecture_shows_the_same_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", text, flags=re.M))
    documented = {
        layer: {w.strip("` ") for w in cell.split(",") if w.strip("` ") and w.strip() != "–"}
        for layer, cell in rows.items()
    }
    assert documented == ALLOWED


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=lambda a: a[0])
def test_commands_that_never_simulate_start_light(argv: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from sim.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        status = main({argv!r})\n"
        "    except SystemExit as stop:\n"
        "        status = stop.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(status, ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    status, heavy = done.stdout.split(" ")
    assert status == "0"
    assert heavy.strip() == "", f"salvo {' '.join(argv)} imported {heavy.strip()}"


def test_the_public_api_resolves_lazily() -> None:
    code = (
        "import sys\n"
        "import sim\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "names = [n for n in sim.__all__ if getattr(sim, n, None) is None]\n"
        "print(','.join(heavy) + '|' + ','.join(names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    heavy, missing = done.stdout.strip().split("|")
    assert heavy == "", f"import sim imported {heavy}"
    assert missing == "", f"sim.__all__ names that do not resolve: {missing}"
