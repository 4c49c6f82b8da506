"""Every code block in README.md and docs/ runs in the test suite, so the docs cannot drift.

Collected by Sybil through the root conftest.py. The rules a page follows:

* A ```python block whose first line is ``# NAME.py`` is a file a reader would save. A
  ``test_*.py`` file is run with pytest (in-process, in a fresh directory holding every
  file the page showed so far), and must pass, unless an ``<!-- outcome: failed=1 passed=2 -->``
  comment before it says what pytest reports instead. Other files are written beside it.
* Any other ```python block is executed, in one namespace per page, with the page's
  files importable: a snippet that runs ``disconnect.run(...)`` really runs it.
* A ```text block after an ``<!-- output -->`` comment is the output of the last test file:
  every line of it (numbers aside, ``...`` lines skipped) must begin a line of that run's
  output, in order.
* Other blocks (```console commands, ```toml, ```text without the comment) are not run.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
from _pytest._code.code import Traceback
from sybil import Document, Example, Region, Sybil
from sybil.integration.pytest import SybilItem
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from tests.logging_guard import root_logger_restored

ROOT = Path(__file__).resolve().parent.parent
FILE_HEADER = re.compile(r"#\s*(?P<name>[\w/]+\.py)\s*$")
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
OUTCOME_COMMENT = re.compile(r"<!-- outcome: (?P<counts>[^\n]*?) -->")
OUTPUT_BLOCK = re.compile(r"<!-- output -->\s*\n```text\n(?P<body>.*?)\n```", re.DOTALL)
#: Keys of the page namespace kept by this module.
FILES, DIRECTORY, MODULES = "_docs_files", "_docs_directory", "_docs_modules"
OUTCOME, LAST_RUN = "_docs_outcome", "_docs_last_run"
_LOGGING = "_docs_logging_guard"
#: The inner pytest run: no cache files in the temporary directory, quiet pytest-asyncio.
INNER_ARGS = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


def python_block(example: Example) -> None:
    source = str(example.parsed)
    namespace = example.namespace
    first = source.split("\n", 1)[0]
    header = FILE_HEADER.match(first)
    if header is None:
        _execute(source, example)
        return
    name = header.group("name")
    files: dict[str, str] = namespace.setdefault(FILES, {})
    files[name] = source
    if DIRECTORY not in namespace:  # not setdefault(): that would make a directory per block
        namespace[DIRECTORY] = tempfile.mkdtemp(prefix="docs-")
    directory = Path(namespace[DIRECTORY])
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(source)
    if Path(name).name.startswith("test_") and _defines_tests(source):
        _run_tests(example, name, files)


def _defines_tests(source: str) -> bool:
    tree = ast.parse(source)
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign)) and
               any(target.startswith("test") for target in _names(node)) for node in tree.body)


def _names(node: ast.stmt) -> Iterator[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        yield node.name
    elif isinstance(node, ast.Assign):
        yield from (target.id for target in node.targets if isinstance(target, ast.Name))


def _execute(source: str, example: Example) -> None:
    """A snippet: run in the page's namespace, with the page's files importable."""
    namespace = example.namespace
    directory = namespace.get(DIRECTORY)
    modules = [Path(name).stem for name in namespace.get(FILES, {})]
    # The page's modules as its earlier snippets imported them (pytester, which each block
    # gets, restores sys.modules after each one); another page's file of the same name must
    # not answer either.
    imported: dict[str, ModuleType] = namespace.setdefault(MODULES, {})
    for module in modules:
        if module in imported:
            sys.modules[module] = imported[module]
        else:
            sys.modules.pop(module, None)
    if directory is not None:
        sys.path.insert(0, directory)
    try:
        code = compile("\n" * (example.line + example.parsed.line_offset) + source, example.path, "exec")
        exec(code, namespace)
    finally:
        if directory is not None:
            sys.path.remove(directory)
        namespace.pop("__builtins__", None)
        imported.update((module, sys.modules[module]) for module in modules if module in sys.modules)


#: Loaded in this process before any inner run, for the same reason as _import_libraries.
ALWAYS_LOADED = ("logging.config", "logging.handlers", "pytest_disconnect._fronts.fixture",
                 "pytest_disconnect._scenario.driver", "pytest_disconnect._fronts.transport",
                 "pytest_disconnect.strategies")


def _import_libraries(sources: Iterable[str]) -> None:
    """Import, here and now, the libraries a page's blocks import (at collection, so that they
    are loaded before any test and stay loaded).

    pytester drops every module imported while a test ran (its own runs and the blocks'); a
    library first imported inside one and imported again later is two copies of itself, and
    whatever kept the first (isinstance checks, logging's handler classes, the package's lazy
    attributes) then fails for no reason of the page's.
    """
    blocks = list(sources)
    own = {header.group("name").rsplit("/", 1)[-1].removesuffix(".py")
           for header in (FILE_HEADER.match(block.split("\n", 1)[0]) for block in blocks) if header}
    wanted = set(ALWAYS_LOADED)
    for block in blocks:
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue  # the block's own run will say so
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                wanted.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                wanted.add(node.module)
    for module in sorted(wanted):
        if module.split(".")[0] not in own:
            importlib.import_module(module)


def _run_tests(example: Example, name: str, files: dict[str, str]) -> None:
    pytester: pytest.Pytester = example.namespace["pytester"]
    for other, text in files.items():
        path = pytester.path / other
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    expected: dict[str, int] | None = example.namespace.pop(OUTCOME, None)
    result = pytester.runpytest_inprocess(*INNER_ARGS, name)
    example.namespace[LAST_RUN] = result
    outcomes = result.parseoutcomes()
    shown = "\n".join(result.outlines)
    if expected is None:
        assert result.ret == 0 and outcomes.get("passed"), f"{name} did not pass:\n{shown}"
    else:
        got = {key: outcomes.get(key, 0) for key in expected}
        assert got == expected, f"{name}: expected {expected}, got {outcomes}:\n{shown}"


def _normalise(line: str) -> str:
    """Numbers and runs of spaces aside: timings move from run to run, the words must not."""
    return " ".join(re.sub(r"\d+(?:[.,]\d+)*", "#", line).split())


def check_output(example: Example) -> None:
    result: pytest.RunResult | None = example.namespace.get(LAST_RUN)
    assert result is not None, "an <!-- output --> block must follow a test file block"
    actual = [_normalise(line) for line in result.outlines]
    position = 0
    for line in str(example.parsed).split("\n"):
        wanted = _normalise(line)
        if not wanted or wanted == "...":
            continue
        found = next((index for index in range(position, len(actual)) if actual[index].startswith(wanted)), None)
        if found is None:
            shown = "\n".join(result.outlines)
            raise AssertionError(f"not in the real output (in this order): {line!r}\n{shown}")
        position = found + 1


def set_outcome(example: Example) -> None:
    counts = {}
    for part in str(example.parsed).split():
        key, _, value = part.partition("=")
        counts[key] = int(value)
    example.namespace[OUTCOME] = counts


def output_parser(document: Document) -> Iterable[Region]:
    for match in OUTPUT_BLOCK.finditer(document.text):
        yield Region(match.start(), match.end(), match.group("body"), check_output)


def outcome_parser(document: Document) -> Iterable[Region]:
    for match in OUTCOME_COMMENT.finditer(document.text):
        yield Region(match.start(), match.end(), match.group("counts"), set_outcome)


def _set_up(namespace: dict[str, Any]) -> None:
    # What a page's examples do to the root logger ends with the page (see tests/logging_guard.py):
    # the Litestar page's app, built with Litestar's default logging, left a listener thread that
    # raised into a later page's example.
    guard = root_logger_restored()
    guard.__enter__()
    namespace[_LOGGING] = guard


def _clean_up(namespace: dict[str, Any]) -> None:
    guard = namespace.pop(_LOGGING, None)
    if guard is not None:
        guard.__exit__(None, None, None)
    directory = namespace.get(DIRECTORY)
    if directory is not None:
        # A page's inner runs may leave a straggler writing there (a .pyc, a log): never an error.
        shutil.rmtree(directory, ignore_errors=True)


def _keep_the_real_traceback() -> None:
    """Sybil's traceback filter indexes the traceback's second entry, which an error raised outside
    the example (a page's set-up or teardown) lacks: the IndexError then hides the real error behind
    an INTERNALERROR that ends the whole run. Fall back to the whole traceback."""
    original = SybilItem._traceback_filter

    def traceback_filter(self: SybilItem, excinfo: pytest.ExceptionInfo[BaseException]) -> Traceback:
        try:
            return original(self, excinfo)
        except IndexError:
            return excinfo.traceback

    SybilItem._traceback_filter = traceback_filter  # type: ignore[method-assign]


_keep_the_real_traceback()


def collector(root: Path = ROOT) -> Callable[[Path, pytest.Collector], pytest.Collector | None]:
    """pytest_collect_file for README.md and docs/**/*.md (nothing else: examples/ has its own README)."""
    sybil = Sybil(
        parsers=[CodeBlockParser(language="python", evaluator=python_block), outcome_parser, output_parser,
                 SkipParser()],
        patterns=["*.md"], path=str(root), fixtures=["pytester"], setup=_set_up, teardown=_clean_up,
    )
    collect = sybil.pytest()
    docs = root / "docs"

    def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path == root / "README.md" or docs in file_path.parents:
            _import_libraries(PYTHON_BLOCK.findall(file_path.read_text()))
            return cast("pytest.Collector | None", collect(file_path, parent))
        return None

    return pytest_collect_file
