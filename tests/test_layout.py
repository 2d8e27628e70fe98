"""The package's shape: imports flow one way, and the commands are thin layers over the library."""

from __future__ import annotations

import ast
from pathlib import Path

import tfbert

PACKAGE = Path(tfbert.__file__).parent
COMMANDS = {"train", "evaluate", "predict"}  # python -m tfbert.<name>


def module_name(path: Path) -> str:
    """A file's module name inside the package: "config", "data" (a subpackage's __init__), "data.labels"."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if path != PACKAGE / "__init__.py"}


def _known(name: str) -> str | None:
    """The package module `name` (tfbert.<module>[.<attribute>]) is or is inside, or None."""
    parts = name.split(".")[1:] if name.startswith("tfbert.") else []
    prefixes = (".".join(parts[:length]) for length in range(len(parts), 0, -1))
    return next((prefix for prefix in prefixes if prefix in MODULES), None)


def imported_modules(path: Path) -> set[str]:
    """The tfbert modules a file imports anywhere (top level or inside functions), and those
    it names for importlib ("tfbert.data.splits", as a lazy facade does)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _known(node.value) == node.value[7:]:
            names = [node.value]
        else:
            continue
        found |= {_known(name) for name in names} - {None}
    return found - {module_name(path) if path.is_relative_to(PACKAGE) else path.stem}


def import_graph() -> dict[str, set[str]]:
    return {module: imported_modules(path) for module, path in MODULES.items()}


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
    assert {"data", "data.labels", "data.splits"} <= set(graph), "and the modules of its subpackages"
    assert find_cycle(graph) is None


def test_the_graph_follows_submodules_and_a_facades_lazy_imports():
    graph = import_graph()
    assert "data.labels" in graph["model"]  # from tfbert.data.labels import LabelMap
    assert {"data.corpora", "data.tables", "data.labels", "data.splits", "data.statistics"} <= graph["data"]
    assert graph["data.labels"] == {"errors"}  # the label stage stands alone: no tables, no config


def test_the_library_never_imports_a_command():
    importers = {module: sorted(targets & COMMANDS) for module, targets in import_graph().items()
                 if module not in COMMANDS and targets & COMMANDS}
    assert importers == {}


def test_commands_are_thin():
    """Each command parses its arguments and calls library functions: no more than a screenful."""
    sizes = {name: len((PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines()) for name in COMMANDS}
    assert max(sizes.values()) <= 100, sizes


def test_the_docs_place_every_module():
    page = (PACKAGE.parent / "docs" / "design" / "where-things-live.md").read_text(encoding="utf-8")
    missing = sorted(module for module in MODULES if f"`{module}`" not in page)
    assert missing == []


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def oversized(path: Path) -> list[str]:
    """A module's parts over the size limits: the module itself, and each function."""
    source = path.read_text(encoding="utf-8")
    found = [f"{path.name}: {len(source.splitlines())} lines"] if len(source.splitlines()) > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_oversized_finds_long_modules_and_functions(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = tmp_path / "long.py"
    source.write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n" + "\n" * MAX_MODULE_LINES)
    assert oversized(source) == [f"long.py: {MAX_FUNCTION_LINES + 5 + MAX_MODULE_LINES} lines",
                                 f"long.py:1 long: {MAX_FUNCTION_LINES + 1} lines"]


def test_no_module_over_400_lines_and_no_function_over_50():
    """Long reasoning lives in docs/, with a pointer in the code; each module keeps to one job."""
    assert [part for path in sorted(PACKAGE.rglob("*.py")) for part in oversized(path)] == []


def test_no_test_module_over_400_lines_and_no_function_over_50():
    """The tests keep to the same limits: every tests/*.py, helper modules and conftest.py included."""
    tests = sorted(Path(__file__).parent.glob("*.py"))
    assert len(tests) > 40 and [part for path in tests for part in oversized(path)] == []


def quick_tests(path: Path) -> list[str]:
    """The test functions of a test module that `-m "not slow"` runs: those neither marked slow
    themselves nor in a module marked slow (pytestmark)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if any(isinstance(node, ast.Assign) and "pytestmark" in map(ast.unparse, node.targets) and "slow" in ast.unparse(node.value)
           for node in tree.body):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            and not any("mark.slow" in ast.unparse(decorator) for decorator in node.decorator_list)]


def test_quick_tests_leaves_out_what_is_marked_slow(tmp_path):
    marked = tmp_path / "test_marked.py"
    marked.write_text("import pytest\n\n\n@pytest.mark.slow\n@pytest.mark.parametrize('x', [1])\ndef test_a(x):\n    pass\n\n\n"
                      "def test_b():\n    pass\n\n\ndef helper():\n    pass\n")
    assert quick_tests(marked) == ["test_b"]
    whole = tmp_path / "test_whole.py"
    whole.write_text("import pytest\n\npytestmark = pytest.mark.slow\n\n\ndef test_b():\n    pass\n")
    assert quick_tests(whole) == []


def test_the_quick_loop_reaches_every_test_module():
    """`python -m pytest -q -m "not slow"` keeps at least one test of every test module."""
    modules = sorted(Path(__file__).parent.glob("test_*.py"))
    assert len(modules) > 40 and [path.name for path in modules if not quick_tests(path)] == []
