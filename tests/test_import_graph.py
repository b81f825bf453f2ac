"""The package's static import graph: its module groups form no cycle, and selection (which
knows nothing about torch) imports without it.

The graph holds every ``import`` of a ``mtlgroup`` module, at module level or inside a function
(a lazy import is still a dependency), but not those under ``if TYPE_CHECKING:``. A module's group
is its first name under ``mtlgroup`` (``mtlgroup.affinity.stgu`` → ``affinity``, ``mtlgroup.tasks``
→ ``tasks``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mtlgroup

PACKAGE = Path(mtlgroup.__file__).parent

ALLOWED_CYCLES: dict[frozenset[str], str] = {}
"""Group cycles accepted on purpose, each with its reason (none today)."""


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name → (file, is a package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """``(imported module or name, line)`` for every import under ``node``, skipping the bodies
    of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), module, is_package)
            continue
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield alias.name, child.lineno
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = module.split(".")[: len(module.split(".")) - (not is_package)]
                base = base[: len(base) - (child.level - 1)]
                source = ".".join(base + ([child.module] if child.module else []))
            else:
                source = child.module or ""
            for alias in child.names:  # `from package import module` imports the module
                yield f"{source}.{alias.name}", child.lineno
                yield source, child.lineno
        yield from _imports(child, module, is_package)


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, dict[str, list[str]]]:
    """Group → imported group → the imports behind that edge (``module:line -> module``)."""
    modules = _modules()
    graph: dict[str, dict[str, list[str]]] = {}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, line in _imports(tree, module, is_package):
            if target not in modules:
                continue
            source_group, target_group = _group(module), _group(target)
            # The top-level package holds only the version; importing it is no dependency.
            if source_group != target_group and target != "mtlgroup":
                edges = graph.setdefault(source_group, {}).setdefault(target_group, [])
                edges.append(f"{module}:{line} -> {target}")
    return graph


def group_cycles(graph: dict[str, dict[str, list[str]]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one group (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})
    for node in nodes:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert {"models", "training", "affinity", "study", "cli"} <= set(graph)
    assert "tasks" in graph["models"] and "training" in graph["affinity"]


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}
    assert group_cycles(graph) == [frozenset("abc")]


def test_module_groups_form_no_cycle() -> None:
    graph = import_graph()
    unexpected = [c for c in group_cycles(graph) if c not in ALLOWED_CYCLES]
    details = [
        f"{sorted(cycle)}: "
        + "; ".join(edge for a in cycle for b in cycle for edge in graph.get(a, {}).get(b, []))
        for cycle in unexpected
    ]
    assert not unexpected, "import cycles between module groups:\n" + "\n".join(details)


def test_selection_imports_without_torch() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import mtlgroup.selection as selection\n"
        "for info in pkgutil.walk_packages(selection.__path__, 'mtlgroup.selection.'):\n"
        "    importlib.import_module(info.name)\n"
        "heavy = sorted(m for m in ('torch', 'cv2', 'ray') if m in sys.modules)\n"
        "assert not heavy, f'importing mtlgroup.selection loaded {heavy}'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
