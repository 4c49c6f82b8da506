"""pytest hooks and the ``disconnect`` fixture: wiring only (entry point ``disconnect``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ._errors import SettingError
from ._settings import MARKER_HELP, OPTIONS, Settings, marker_layers, resolve, resolve_config

if TYPE_CHECKING:
    from ._fixture import Disconnect
    from ._result import DisconnectResult

SETTINGS_KEY = pytest.StashKey[Settings]()


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


def pytest_report_header(config: pytest.Config) -> str:
    from ._report import header_line

    return header_line(config.stash[SETTINGS_KEY])


@pytest.fixture
def disconnect(request: pytest.FixtureRequest) -> Disconnect:
    """Drive an ASGI app through a client disconnect and check that its work stopped.

    ``disconnect.run(app, "GET", "/path", after=0.5)`` in sync tests,
    ``await disconnect.arun(...)`` in async ones. Settings come from the call,
    then ``@pytest.mark.disconnect``, ``--disconnect-*`` options and ``disconnect_*`` ini values.
    """
    from ._fixture import Disconnect
    from ._report import section_text

    node = request.node
    try:
        settings = resolve(request.config.stash[SETTINGS_KEY], marker_layers(node))
    except SettingError as exc:
        pytest.fail(f"{node.nodeid}: {exc}", pytrace=False)

    def report(result: DisconnectResult) -> None:
        node.add_report_section("call", "disconnect", section_text(result))

    return Disconnect(settings, on_result=report)
