"""The object the ``disconnect`` fixture gives a test: run() for sync tests, arun() for async."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import sniffio

from ._driver import CANCEL_GRACE, check_app, drive
from ._errors import HandlerKeptRunning
from ._report import failure_message, section_text
from ._request import BodyArg, HeadersArg, Request
from ._result import DisconnectResult
from ._runner import SHUTDOWN_GRACE, Backend, run_in_loop_thread
from ._settings import Settings, Source, apply
from ._trigger import Trigger
from ._types import ASGIApp

#: Extra seconds a sync run() waits for the loop thread beyond the longest possible scenario.
_WAIT_SLACK = 2.0


class Disconnect:
    """Drives ASGI apps through a client disconnect. Get one from the ``disconnect`` fixture.

    Settings not passed to run()/arun() come from the marker, then the command
    line, then the ini file, then the defaults; ``settings`` shows them.
    """

    def __init__(self, settings: Settings | None = None, *,
                 on_result: Callable[[DisconnectResult], None] | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        #: Every result this fixture produced, in order.
        self.results: list[DisconnectResult] = []
        self._on_result = on_result

    def run(
        self, app: ASGIApp, method: str, path: str, *,
        after: float | Trigger | str | None = None, tolerance: float | None = None,
        patience: float | None = None, server: str | None = None,
        body: BodyArg = b"", json: object = None, headers: HeadersArg = None,
        check: bool = True, backend: Backend = "asyncio",
    ) -> DisconnectResult:
        """Send ``method path`` to ``app``, leave at ``after``, and check the work stopped.

        ``after`` is seconds from the request start or a Trigger; ``tolerance`` and
        ``patience`` are seconds after the disconnect. With ``check=True`` a handler
        that kept running raises HandlerKeptRunning; with ``check=False`` the result
        is returned for inspection. The app runs on a fresh ``backend`` event loop.
        """
        __tracebackhide__ = True
        try:
            sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            pass
        else:
            raise RuntimeError("disconnect.run() was called from async code; "
                               "use `await disconnect.arun(...)` in async tests")
        if backend not in ("asyncio", "trio"):
            raise ValueError(f"backend must be 'asyncio' or 'trio', not {backend!r}")
        settings, request = self._prepare(app, method, path, "disconnect.run()", after=after,
                                          tolerance=tolerance, patience=patience, server=server,
                                          body=body, json=json, headers=headers)
        result = run_in_loop_thread(lambda: drive(app, request, settings), backend=backend,
                                    bound=_longest(settings) + _WAIT_SLACK, target=request.target)
        return self._finish(result, check)

    async def arun(
        self, app: ASGIApp, method: str, path: str, *,
        after: float | Trigger | str | None = None, tolerance: float | None = None,
        patience: float | None = None, server: str | None = None,
        body: BodyArg = b"", json: object = None, headers: HeadersArg = None,
        check: bool = True,
    ) -> DisconnectResult:
        """Like run(), on the running event loop (asyncio or trio) of an async test."""
        __tracebackhide__ = True
        settings, request = self._prepare(app, method, path, "disconnect.arun()", after=after,
                                          tolerance=tolerance, patience=patience, server=server,
                                          body=body, json=json, headers=headers)
        result = await drive(app, request, settings)
        return self._finish(result, check)

    def _bind(self, settings: Settings, on_result: Callable[[DisconnectResult], None] | None) -> None:
        """Point the plugin's shared object at the next test (called at each test's setup)."""
        self.settings = settings
        self.results = []
        self._on_result = on_result

    def _prepare(self, app: ASGIApp, method: str, path: str, where: str, *,
                 body: BodyArg, json: object, headers: HeadersArg,
                 **overrides: object) -> tuple[Settings, Request]:
        __tracebackhide__ = True
        check_app(app)
        settings = apply(self.settings, Source("call", where), overrides)
        request = Request.build(method, path, headers=headers, body=body, json=json)
        return settings, request

    def _finish(self, result: DisconnectResult, check: bool) -> DisconnectResult:
        __tracebackhide__ = True
        self.results.append(result)
        if self._on_result is not None:
            self._on_result(result)
        error = result.app_error
        if error is not None and _is_usage_error(error):
            raise error
        if not check:
            return result
        if error is not None and result.disconnected_at is None and result.cancelled_at is None:
            # Nothing about the disconnect was tested; show the app's own error.
            error.add_note(f"pytest-disconnect: {result.method} {result.path} raised this before "
                           "the client left, so the disconnect was never tested")
            raise error
        if not result.passed:
            raise HandlerKeptRunning(failure_message(result), result)
        return result


def reporter(item: pytest.Item) -> Callable[[DisconnectResult], None]:
    """Attach each result to the test's report as a 'disconnect' section (shown by -rA).

    Inside a Hypothesis test, the examples' results go to Hypothesis instead (notes and
    statistics), so a hundred passing examples do not flood the report.
    """

    def report(result: DisconnectResult) -> None:
        if "hypothesis" in sys.modules:
            from .strategies import _record_example

            if _record_example(result):
                return
        item.add_report_section("call", "disconnect", section_text(result))

    return report


def _is_usage_error(error: BaseException) -> bool:
    from ._errors import NotAnASGIApp

    return isinstance(error, NotAnASGIApp)


def _longest(settings: Settings) -> float:
    """The longest a scenario can take on a responsive loop, in seconds."""
    trigger = settings.after
    before = trigger.seconds if trigger.seconds is not None else settings.watch_limit
    return before + settings.watch_limit + CANCEL_GRACE + SHUTDOWN_GRACE

