"""Exceptions the plugin raises, into the test or into the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Defined with the settings, which every layer reads: _settings then imports nothing that leads
# back to _result (whose errors below carry a result).
from ._settings import DisconnectError, SettingError

if TYPE_CHECKING:
    from ._result import DisconnectResult


class HandlerKeptRunning(DisconnectError, AssertionError):
    """The app's work outlived the tolerance after ``http.disconnect``.

    ``result`` holds the whole scenario for inspection; ``str()`` is the report.
    """

    def __init__(self, report: str, result: DisconnectResult) -> None:
        super().__init__(report)
        self.result = result


class ClientLeft(DisconnectError):
    """DisconnectTransport's client left as planned (``after=``, ``--disconnect-after``), before
    the response was complete, and the app's work stopped in time.

    There is no response to give the test: left uncaught, it ends the test as skipped
    (the audit passed, the rest of the test did not run). ``result`` holds the scenario.
    """

    def __init__(self, message: str, result: DisconnectResult) -> None:
        super().__init__(message)
        self.result = result


class ClientDisconnected(OSError):
    """Raised into the app by ``send()`` after the client left (ASGI spec 2.4)."""


class NotAnASGIApp(DisconnectError, TypeError):
    """The object given as the app cannot be called as an ASGI 3 application."""


class LiveSetupError(DisconnectError, RuntimeError):
    """Live mode could not serve the app: no such server installed, a backend it does not run on,
    or a server that never called the app."""


class EventLoopBlocked(DisconnectError, AssertionError):
    """The app's event loop stopped answering, so no verdict could be reached in time."""


class LifespanError(DisconnectError, RuntimeError):
    """The app's lifespan startup or shutdown failed, or never answered; the message names the app."""


class WrongRoute(DisconnectError, AssertionError):
    """The app answered 404 or 405 without running a handler: the scenario tested nothing.

    ``result`` holds the scenario; pass ``expect_status=`` if that answer is what the test wants.
    """

    def __init__(self, message: str, result: DisconnectResult) -> None:
        super().__init__(message)
        self.result = result


class IncompleteResponse(AssertionError):
    """The app returned without a whole response while the client waited (a protocol violation
    found after the fact, not raised into the app)."""


__all__ = ["ClientDisconnected", "ClientLeft", "DisconnectError", "EventLoopBlocked", "HandlerKeptRunning",
           "IncompleteResponse", "LifespanError", "LiveSetupError", "NotAnASGIApp", "SettingError", "WrongRoute"]

# Tracebacks name the public module, where users import these from.
for _error in (DisconnectError, HandlerKeptRunning, ClientLeft, ClientDisconnected, SettingError,
               NotAnASGIApp, EventLoopBlocked, LiveSetupError, LifespanError, WrongRoute):
    _error.__module__ = "pytest_disconnect"
