"""The package's imports run one way: no module imports itself back through another, and the
emulator's route tables never import the app that composes them.

Every import counts, wherever it is written: at module level, inside a function (a lazy
import still ties the two modules together) or under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pcc_provider

PACKAGE = Path(pcc_provider.__file__).parent
# The emulator's route tables: each maps URLs to its own handlers and knows nothing of the app.
ROUTE_MODULES = [
    "pcc_provider.emulator.public",
    "pcc_provider.emulator.organization",
    "pcc_provider.emulator.control",
    "pcc_provider.emulator.dashboard",
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The modules of the package that `path` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from package import module` imports that module; `from module import name`
                # imports the module the name is in.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (its modules in import order, the first repeated last), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_the_walk_sees_module_level_lazy_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "pcc_provider.emulator.backend" in graph["pcc_provider.emulator.app"]  # module level
    assert "pcc_provider.emulator.server" in graph["pcc_provider.emulator"]  # TYPE_CHECKING
    assert "pcc_provider.context" in graph["pcc_provider.__main__"]  # inside a function
    # And it finds a cycle when there is one, however long.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", ROUTE_MODULES)
def test_no_route_table_imports_the_app(module: str) -> None:
    graph = import_graph()
    assert "pcc_provider.emulator.app" not in graph[module]
    # Nor reaches it through another module.
    seen, todo = set(), [module]
    while todo:
        for imported in graph[todo.pop()] - seen:
            seen.add(imported)
            todo.append(imported)
    assert "pcc_provider.emulator.app" not in seen
