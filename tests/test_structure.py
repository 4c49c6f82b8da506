"""The package's shape, as issue 14 left it: no import cycles, lazy imports only where they are named
with their reason, no function over 60 lines, no module reading another module's private attributes
(every reach-in into a library's internals lives in ``_compat.py``).

Each check walks the source with ``ast``: nothing is imported. A new offender fails at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_disconnect"
MAX_LINES = 60

#: Imports of the package's own modules inside functions, each with why it is not at the top.
#: Only start-up time is a reason: a lazy import that dodges a cycle is a cycle.
LAZY: dict[tuple[str, str], str] = {
    ("plugin", "_fronts.audit"): "the audit patch (httpx, Starlette's TestClient) loads only with --disconnect-audit",
    ("plugin", "_fronts.fixture"): "pytest loads plugin.py in every run; the driver loads with the first test that "
                                   "uses the disconnect fixture",
    ("plugin", "_fronts.transport"): "httpx loads only for a test using disconnect_client",
    ("plugin", "_report.text"): "report formatting loads when a header or summary is printed",
    ("plugin", "_report.sections"): "loads when a test fails",
    ("plugin", "_report.verdicts"): "loads when a test raises",
    ("plugin", "_errors"): "loads when a test raises",
    ("_backends", "_backends.trio_run"): "trio is optional and slow to import: its backend loads only on trio",
    ("_report.ci_plugin", "_report.github"): "loads only with the GitHub report option",
    ("_report.ci_plugin", "_report.json_report"): "loads only with the JSON report option",
    ("_report.ci_plugin", "_errors"): "loads when a test fails",
    ("_sweep.requests", "_sweep.jsonschema"): "loads only for a sweep over an OpenAPI schema",
    ("_sweep.options", "_sweep.items"): "loads only for a test marked with @sweep",
    ("_fronts.current", "_report.text"): "report formatting loads when a section is written",
    ("_fronts.sync_runner", "_watch.watchdog"): "the watchdog thread's module loads with the first sync run()",
    ("_report.records", "_report.text"): "report formatting loads when a record is written",
    ("_sweep.items", "_fronts.current"): "sweep() is imported at collection; the driver loads with a sweep test",
    ("_sweep.items", "_report.text"): "sweep() is imported at collection; reports load with the first sweep test",
    ("_sweep.items", "_sweep.run"): "sweep() is imported at collection; the driver loads with the first sweep test",
}

def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules(root: Path) -> dict[str, ast.Module]:
    return {_module_name(root, path): ast.parse(path.read_text(), str(path)) for path in sorted(root.rglob("*.py"))}


def _short(module: str) -> str:
    return module.partition(".")[2] or "__init__"


def _resolve(root: Path, module: str, node: ast.ImportFrom) -> list[str]:
    """The package modules ``node`` (an import in ``module``) loads: ``from . import x`` loads ``x``."""
    name = root.name
    if node.level:
        base = module.split(".")
        is_package = (root.parent / Path(*base) / "__init__.py").exists()
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != name and not target.startswith(name + "."):
        return []
    known = _modules(root)
    loaded = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known]
    return loaded or [target]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def _imports(root: Path, module: str, tree: ast.Module, typing: bool = False) -> Iterator[tuple[str, bool]]:
    """(package module imported, whether inside a function) for every import run at run time, and
    with ``typing`` for those only type checkers read too."""

    def visit(node: ast.AST, lazy: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.ImportFrom):
            yield from ((target, lazy) for target in _resolve(root, module, node))
        elif isinstance(node, ast.Import):
            yield from ((alias.name, lazy) for alias in node.names if alias.name.startswith(root.name + "."))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        children = node.orelse if _is_type_checking(node) and not typing else ast.iter_child_nodes(node)  # type: ignore[attr-defined]
        for child in children:
            yield from visit(child, inner)

    yield from visit(tree, False)


@cache
def import_cycles(root: Path = PACKAGE) -> frozenset[str]:
    """Every cycle of imports, named by its modules in order (smallest name first). Imports inside
    functions and under TYPE_CHECKING count: they only hide a cycle from the interpreter."""
    graph = {module: {target for target, _ in _imports(root, module, tree, typing=True) if target != module}
             for module, tree in _modules(root).items()}
    cycles: set[str] = set()

    def walk(start: str, node: str, path: list[str], within: set[str]) -> None:
        for target in sorted(graph.get(node, set()) & within):
            if target == start:
                cycles.add(" -> ".join(_short(step) for step in [*path, start]))
            elif target not in path and target > start:  # each cycle once, from its smallest module
                walk(start, target, [*path, target], within)

    for component in _components(graph):
        for module in component:
            walk(module, module, [module], component)
    return frozenset(cycles)


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): only they hold cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, set()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@cache
def lazy_imports(root: Path = PACKAGE) -> frozenset[str]:
    """Package modules imported inside functions without a reason in LAZY."""
    found = set()
    for module, tree in _modules(root).items():
        for target, lazy in _imports(root, module, tree):
            if lazy and (_short(module), _short(target)) not in LAZY:
                found.add(f"{_short(module)} -> {_short(target)}")
    return frozenset(found)


@cache
def long_functions(root: Path = PACKAGE) -> frozenset[str]:
    found = set()
    for module, tree in _modules(root).items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                if (node.end_lineno or node.lineno) - first + 1 > MAX_LINES:
                    found.add(f"{_short(module)}.{node.name}")
    return frozenset(found)


def _own_names(tree: ast.Module) -> set[str]:
    """Names a module defines: its functions, classes, assigned names and attributes of self or cls."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name)
              and node.value.id in {"self", "cls"}):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    return {id(child) for node in ast.walk(tree) if _is_type_checking(node)
            for stmt in node.body for child in ast.walk(stmt)}  # type: ignore[attr-defined]


def _private_read(node: ast.AST, own: set[str]) -> str | None:
    """The text of a read of a private name that ``own`` (the module's names) does not define."""
    if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
        if not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}):
            return ast.unparse(node)
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"}
          and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
          and _private(node.args[1].value) and node.args[1].value not in own):
        return ast.unparse(node)
    return None


@cache
def private_reads(root: Path = PACKAGE) -> frozenset[str]:
    """Reads of a private name another module (ours or a library's) defines, outside _compat.py; a
    library's private module imported outside _compat.py; ``from .x import _y`` across modules."""
    found = set()
    for module, tree in _modules(root).items():
        if module == f"{root.name}._compat":
            continue
        own, typing_only = _own_names(tree), _type_checking_nodes(tree)
        for node in ast.walk(tree):
            read = _private_read(node, own)
            if read is not None:
                found.add(f"{_short(module)}: {read}")
            elif isinstance(node, ast.ImportFrom) and id(node) not in typing_only:
                source = "." * node.level + (node.module or "")
                if not node.level and not source.startswith(root.name) and any(map(_private, source.split("."))):
                    found.add(f"{_short(module)}: from {source} import ...")
                found.update(f"{_short(module)}: from {source} import {alias.name}"
                             for alias in node.names if _private(alias.name))
    return frozenset(found)


CHECKS = {"cycles": import_cycles, "lazy": lazy_imports, "long": long_functions, "private": private_reads}


@pytest.mark.parametrize("check", list(CHECKS))
def test_no_offenders(check: str) -> None:
    assert CHECKS[check]() == set()


def test_lazy_reasons_are_current() -> None:
    """Every reason in LAZY names a lazy import that still exists."""
    present = {(_short(module), _short(target)) for module, tree in _modules(PACKAGE).items()
               for target, lazy in _imports(PACKAGE, module, tree) if lazy}
    assert set(LAZY) - present == set()


FAKE = {
    "__init__.py": "",
    "_compat.py": "import sys\nframes = sys._current_frames\nfrom trio._core._run import GLOBAL_RUN_CONTEXT\n",
    "a.py": "from . import b\nfrom .b import _helper\n\ndef f(x):\n    from . import c\n    return x._open\n",
    "b.py": "from .a import f\nimport sys\nsys._getframe(0)\n"
            "def _helper(self):\n    self._state = 1\n    return self._state, getattr(self, '_gone', None)\n",
    "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n    from trio._core import x\n"
            "from trio._core._run import Runner\n\ndef g():\n" + "    pass\n" * 60,
}


def test_the_checks_find_their_offenders(tmp_path: Path) -> None:
    root = tmp_path / "fake"
    root.mkdir()
    for name, text in FAKE.items():
        (root / name).write_text(text)
    assert import_cycles(root) == {"a -> b -> a", "a -> c -> a"}
    assert lazy_imports(root) == {"a -> c"}
    assert long_functions(root) == {"c.g"}
    assert private_reads(root) == {"a: x._open", "a: from .b import _helper", "b: sys._getframe",
                                   "b: getattr(self, '_gone', None)", "c: from trio._core._run import ..."}


#: The harness's timeline lines that the report reads back (pytest_disconnect/_harness_lines.py).
HARNESS_LINES = ("harness closed task", "harness could not close task", "harness abandoned the app call")


@pytest.mark.parametrize("phrase", HARNESS_LINES)
def test_a_harness_line_the_report_reads_back_is_worded_in_one_module(phrase: str) -> None:
    """Its writer and the report both take it from _harness_lines.py: a wording changed on one
    side only would make the report call closed work 'still running' without failing anything."""
    found = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if phrase in path.read_text())
    assert found == ["_harness_lines.py"]
