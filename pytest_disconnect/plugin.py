"""pytest hooks and the ``disconnect`` fixture: wiring only (entry point ``disconnect``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from ._errors import SettingError
from ._settings import MARKER_HELP, OPTIONS, Settings, marker_layers, resolve, resolve_config

if TYPE_CHECKING:
    from ._fixture import Disconnect

FIXTURE_NAME = "disconnect"
SETTINGS_KEY = pytest.StashKey[Settings]()
SHARED_KEY = pytest.StashKey["Disconnect"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("disconnect", "disconnect: check that ASGI apps stop working when the client leaves")
    for spec in OPTIONS:
        group.addoption(spec.flag, dest=spec.dest, default=None, metavar=spec.metavar, help=spec.help)
        parser.addini(spec.ini, help=spec.help, type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        config.stash[SETTINGS_KEY] = resolve_config(config)
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    driver = sys.modules.get("pytest_disconnect._driver")
    if driver is not None:
        driver.restore_patches()


def pytest_report_header(config: pytest.Config) -> str:
    from ._report import header_line

    return header_line(config.stash[SETTINGS_KEY])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Resolve each test's settings (markers included) before its fixtures: bad markers error here."""
    if FIXTURE_NAME not in getattr(item, "fixturenames", ()):
        return
    from ._fixture import reporter

    try:
        settings = resolve(item.config.stash[SETTINGS_KEY], marker_layers(item))
    except SettingError as exc:
        pytest.fail(f"{item.nodeid}: {exc}", pytrace=False)
    _shared(item.config)._bind(settings, reporter(item))


@pytest.hookimpl(trylast=True)  # after fixture finalizers, which may still call run()
def pytest_runtest_teardown(item: pytest.Item) -> None:
    shared = item.config.stash.get(SHARED_KEY, None)
    if shared is not None:
        shared._bind(item.config.stash[SETTINGS_KEY], None)


# Session-scoped so that Hypothesis's @given accepts it (its health check flags
# function-scoped fixtures); pytest_runtest_setup rebinds it to each test, and
# every run() is a fresh scenario, so nothing leaks between tests or examples.
@pytest.fixture(scope="session")
def disconnect(pytestconfig: pytest.Config) -> Disconnect:
    """Drive an ASGI app through a client disconnect and check that its work stopped.

    ``disconnect.run(app, "GET", "/path", after=0.5)`` in sync tests,
    ``await disconnect.arun(...)`` in async ones. Settings come from the call,
    then ``@pytest.mark.disconnect``, ``--disconnect-*`` options and ``disconnect_*`` ini values.
    """
    return _shared(pytestconfig)


def _shared(config: pytest.Config) -> Disconnect:
    """The run's one Disconnect object, made on first use."""
    from ._fixture import Disconnect

    shared = config.stash.get(SHARED_KEY, None)
    if shared is None:
        shared = config.stash[SHARED_KEY] = Disconnect(config.stash[SETTINGS_KEY])
    return shared
