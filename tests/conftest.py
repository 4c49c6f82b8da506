from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends; trio on a MockClock, so long app sleeps cost no wall time."""
    if request.param == "trio":
        import trio.testing

        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return "asyncio", {}


@pytest.fixture(autouse=True)
def _runs_as_off_ci(request: pytest.FixtureRequest) -> None:
    """pytester runs print the same on CI: pytest stops truncating summary lines when CI is set,
    so a message would appear twice in the output the tests count lines of."""
    if "pytester" in request.fixturenames:
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name in ("CI", "BUILD_NUMBER"):
            monkeypatch.delenv(name, raising=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--agreement", action="store_true",
                     help="also run the slow in-process vs live-server agreement check (about 2 minutes)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--agreement"):
        return
    skip = pytest.mark.skip(reason="slow: run with --agreement")
    for item in items:
        if "agreement" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from tests.agreement_script import write_library_table

    write_library_table(config, terminalreporter)
