"""The package's shape: imports flow one way, and the commands are thin layers over the library."""

from __future__ import annotations

import ast
from pathlib import Path

import tfbert

PACKAGE = Path(tfbert.__file__).parent
COMMANDS = {"train", "evaluate", "predict"}  # python -m tfbert.<name>


def imported_modules(path: Path) -> set[str]:
    """The tfbert modules a file imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("tfbert.")}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return (found & modules) - {path.stem}


def import_graph() -> dict[str, set[str]]:
    return {path.stem: imported_modules(path) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target] if target in path else [module, target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [module])):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imported_modules_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("from tfbert import data\n\ndef f():\n    from tfbert.scoring import score\n    import tfbert.plots\n")
    assert imported_modules(source) == {"data", "scoring", "plots"}


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 15, "the graph should cover every module of the package"
    assert find_cycle(graph) is None


def test_the_library_never_imports_a_command():
    importers = {module: sorted(targets & COMMANDS) for module, targets in import_graph().items()
                 if module not in COMMANDS and targets & COMMANDS}
    assert importers == {}


def test_commands_are_thin():
    """Each command parses its arguments and calls library functions: no more than a screenful."""
    sizes = {name: len((PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines()) for name in COMMANDS}
    assert max(sizes.values()) <= 100, sizes


def test_the_readme_places_every_module():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where things live", 1)[1].split("\n## ", 1)[0]
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    missing = sorted(module for module in modules if f"`{module}`" not in section)
    assert missing == []
