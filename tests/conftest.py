from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from tests.logging_guard import root_logger_restored


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends; trio on a MockClock, so long app sleeps cost no wall time."""
    if request.param == "trio":
        import trio.testing

        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return "asyncio", {}


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A library that configures logging as an app is built leaves it to this test alone
    (see tests/logging_guard.py)."""
    with root_logger_restored():
        yield


@pytest.fixture(autouse=True)
def _runs_as_off_ci(request: pytest.FixtureRequest) -> None:
    """pytester runs print the same on CI: pytest stops truncating summary lines when CI is set,
    so a message would appear twice in the output the tests count lines of."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # first: it clears PYTEST_ADDOPTS when made
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name in ("CI", "BUILD_NUMBER"):
            monkeypatch.delenv(name, raising=False)
        # Inner runs in file order, whatever the outer run does: with pytest-randomly installed
        # they would be shuffled too, and their expected output is in file order. The option is
        # added to every inner run, so a test that sets PYTEST_ADDOPTS itself keeps it too.
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
        pytester = request.getfixturevalue("pytester")
        for name in ("runpytest_inprocess", "runpytest_subprocess", "inline_run"):
            monkeypatch.setattr(pytester, name, functools.partial(getattr(pytester, name), "-p", "no:randomly"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--agreement", action="store_true",
                     help="also run the slow in-process vs live-server agreement check (about 2 minutes)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getini("asyncio_mode") == "auto":
        # pytest-asyncio's auto mode claims every async test, anyio's too, and runs it on asyncio:
        # a test meant for trio would run on the wrong loop, so it is skipped, saying why.
        on_asyncio = pytest.mark.skip(reason="asyncio_mode=auto runs every async test on asyncio")
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            if (item.get_closest_marker("anyio") is not None and inspect.iscoroutinefunction(getattr(item, "obj", None))
                    and str(params.get("anyio_backend", "")).startswith("trio")):
                item.add_marker(on_asyncio)
    if config.getoption("--agreement"):
        return
    skip = pytest.mark.skip(reason="slow: run with --agreement")
    for item in items:
        if "agreement" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from tests.agreement_script import write_library_table

    write_library_table(config, terminalreporter)
