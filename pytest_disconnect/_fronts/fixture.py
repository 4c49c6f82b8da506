"""The object the ``disconnect`` fixture gives a test: run() for sync tests, arun() for async."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Unpack

import sniffio

from .._asgi.lifespan_hosts import Lifespans
from .._asgi.request import BodyArg, HeadersArg, Request
from .._asgi.wrong_route import check_route
from .._compat import stops_for_a_departed_client
from .._errors import HandlerKeptRunning, IncompleteResponse, NotAnASGIApp
from .._report.kept_results import Results
from .._report.text import failure_message
from .._result import DisconnectResult
from .._scenario.driver import CANCEL_GRACE, check_app, drive
from .._settings import CALL_OPTIONS, CallOptions, Settings, Source, apply, keyword_options
from .._types import ASGIApp
from .live import serving_for
from .sync_runner import SHUTDOWN_GRACE, Backend, loop_interrupted, run_in_loop_thread

#: Extra seconds a sync run() waits for the loop thread beyond the longest possible scenario: a
#: loop blocked in Python code is interrupted at that time (INTERRUPT_GRACE), and the scenario
#: then gets up to two CANCEL_GRACE seconds to end its work, so run() gets its verdict.
_WAIT_SLACK = 3.0


class Disconnect:
    """Drives ASGI apps through a client disconnect. Get one from the ``disconnect`` fixture.

    Settings not passed to run()/arun() come from the marker, then the command
    line, then the ini file, then the defaults; ``settings`` shows them.
    """

    def __init__(self, settings: Settings | None = None, *,
                 on_result: Callable[[DisconnectResult], None] | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        #: This test's results, in order: every one, or in a long loop the first failing ones
        #: and the last ones (``results.total`` counts them all; see _report/kept_results.py).
        self.results = Results()
        self._on_result = on_result
        self._lifespans = Lifespans()
        #: The last call's settings and request, reused when the next call asks the same (a loop
        #: of scenarios): working them out again was a tenth of a trivial scenario. Its app was
        #: found to be an ASGI app already.
        self._last: tuple[object, Settings, Settings, Request, object] | None = None

    def close(self) -> None:
        """Shut down the lifespans this object started (the fixture does it after each test).

        Raises LifespanError if a shutdown failed. Call it yourself for a ``Disconnect``
        you made by hand.
        """
        __tracebackhide__ = True
        self._lifespans.close()

    async def aclose(self) -> None:
        """close() from async code: also shuts down the lifespans running on this event loop."""
        __tracebackhide__ = True
        await self._lifespans.aclose()

    def run(
        self, app: ASGIApp, method: str, path: str, *,
        body: BodyArg = b"", json: object = None, headers: HeadersArg = None,
        allow: Iterable[str] = (), heavy: str | Iterable[str] = (),
        check: bool = True, expect_status: int | None = None, backend: Backend = "asyncio",
        **options: Unpack[CallOptions],
    ) -> DisconnectResult:
        """Send ``method path`` to ``app``, leave at ``after``, and check the work stopped.

        ``after`` is seconds from the request start or a Trigger; ``tolerance`` and
        ``patience`` are seconds after the disconnect. ``allow`` names tasks, threads
        or functions (a BackgroundTask's, say) that may outlive the request; ``heavy``
        names functions ('pkg.module:func') whose fate the result reports. With
        ``check=True`` a handler that kept running raises HandlerKeptRunning; with
        ``check=False`` the result is returned for inspection. A 404 or 405 that no
        handler chose fails (WrongRoute) unless ``expect_status`` is that status.
        ``lifespan`` ('auto', 'on', 'off') runs the app's lifespan: startup before the
        test's first request to the app, shutdown after the test. The app runs on a
        fresh ``backend`` event loop per scenario, or, when its lifespan runs, on one
        loop for the whole test.
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
        keyword_options("Disconnect.run()", CALL_OPTIONS, options)
        settings, request = self._prepare(app, method, path, "disconnect.run()", options,
                                          body=body, json=json, headers=headers)
        extras = call_extras(allow, heavy, expect_status)
        bound = _longest(settings) + _WAIT_SLACK
        hosted = self._lifespans.host(app, backend, settings.lifespan, settings.source("lifespan"),
                                      request.target)
        if hosted is None:
            result = run_in_loop_thread(lambda: drive(app, request, settings, serving=serving_for(settings),
                                                      **extras), backend=backend,
                                        bound=bound, target=request.target)
        else:
            loop, state = hosted
            result = loop.call(lambda: drive(app, request, settings, state=state, serving=serving_for(settings),
                                                 **extras), bound=bound,
                               target=request.target)
        return self._finish(app, result, check, expect_status)

    async def arun(
        self, app: ASGIApp, method: str, path: str, *,
        body: BodyArg = b"", json: object = None, headers: HeadersArg = None,
        allow: Iterable[str] = (), heavy: str | Iterable[str] = (),
        check: bool = True, expect_status: int | None = None,
        **options: Unpack[CallOptions],
    ) -> DisconnectResult:
        """Like run(), on the running event loop (asyncio or trio) of an async test."""
        __tracebackhide__ = True
        keyword_options("Disconnect.arun()", CALL_OPTIONS, options)
        settings, request = self._prepare(app, method, path, "disconnect.arun()", options,
                                          body=body, json=json, headers=headers)
        extras = call_extras(allow, heavy, expect_status)
        lifespans = self._lifespans
        # No coroutine to await for an app without a lifespan (most of a loop's scenarios).
        state = (await lifespans.state(app, settings.lifespan, settings.source("lifespan"))
                 if lifespans.wanted(app, settings.lifespan) else None)
        result = await drive(app, request, settings, state=state, serving=serving_for(settings), **extras)
        return self._finish(app, result, check, expect_status)

    def __repr__(self) -> str:
        return f"<disconnect fixture: {self.settings.describe()}>"

    def _prepare(self, app: ASGIApp, method: str, path: str, where: str, options: CallOptions, *,
                 body: BodyArg, json: object, headers: HeadersArg) -> tuple[Settings, Request]:
        __tracebackhide__ = True
        key: object = None
        last = self._last
        if headers is None and json is None and isinstance(body, bytes):
            values = tuple(options.items())  # with their types: 1 == True, but True is no number here
            key = (where, method, path, body, values, tuple([type(value) for _, value in values]))
            if last is not None and last[1] is self.settings and last[0] == key:
                if app is not last[4]:
                    check_app(app)
                    self._last = (*last[:4], app)
                return last[2], last[3]
        check_app(app)
        settings = apply(self.settings, Source("call", where), options)
        request = Request.build(method, path, headers=headers, body=body, json=json)
        if key is not None:
            self._last = (key, self.settings, settings, request, app)
        return settings, request

    def _finish(self, app: ASGIApp, result: DisconnectResult, check: bool,
                expect_status: int | None) -> DisconnectResult:
        __tracebackhide__ = True
        self.results.append(result)
        if self._on_result is not None:
            self._on_result(result)
        if check:
            check_route(result, expect_status, app)
        return judge(result, check)


def bind(disconnect: Disconnect, settings: Settings, on_result: Callable[[DisconnectResult], None] | None) -> None:
    """Point the plugin's shared object at the next test (called at each test's setup)."""
    disconnect.settings = settings
    disconnect.results = Results()
    disconnect._on_result = on_result


def judge(result: DisconnectResult, check: bool) -> DisconnectResult:
    """Raise what the test must see (app errors, protocol violations, a failed verdict)."""
    __tracebackhide__ = True
    interrupted = next((block for block in result.blocks if block.interrupted), None)
    if interrupted is not None:  # whatever check= says, as run() raises it for a loop it gave up on
        raise loop_interrupted(f"{result.method} {result.path}", interrupted)
    error = result.app_error
    if error is not None and isinstance(error, (NotAnASGIApp, KeyboardInterrupt, SystemExit)):
        raise error
    if result.protocol_error is not None:  # an app bug whatever the verdict
        violation = result.protocol_error
        how = "" if isinstance(violation, IncompleteResponse) else "; send() raised this into the app"
        violation.add_note(f"pytest-disconnect: {result.method} {result.path} broke the ASGI protocol{how}")
        raise violation
    if not check:
        return result
    if error is not None and result.cancelled_at is None:
        app_ended = result.work[0].ended_at if result.work else None
        delivered = result.delivered_at
        could_know = delivered is not None and app_ended is not None and app_ended >= delivered
        # OSError, ClientDisconnect or cancellation is how an app stops for a client it could know
        # had left; raised before that (or with no client gone at all) it is the app's own error.
        if not (could_know and stops_for_a_departed_client(error)):
            if result.settings.after.kind == "client" and result.disconnected_at is None:
                raise error  # a plain request through DisconnectTransport: an app error, as with ASGITransport
            when = ("after the client left; an app stops for a departed client by returning or "
                    "through OSError, ClientDisconnect or cancellation, not this" if could_know else
                    "before the app could know the client left, so the disconnect was never tested")
            error.add_note(f"pytest-disconnect: {result.method} {result.path} raised this {when}")
            raise error
    if not result.passed:
        raise HandlerKeptRunning(failure_message(result), result)
    return result


def call_extras(allow: Iterable[str], heavy: str | Iterable[str], expect_status: int | None = None) -> dict[str, Any]:
    """drive()'s keywords from run()'s; ``expect_status`` is only validated here."""
    __tracebackhide__ = True
    if allow == () and heavy == () and expect_status is None:  # the defaults (a str is never equal to ())
        return _NO_EXTRAS
    if expect_status is not None and (isinstance(expect_status, bool) or not isinstance(expect_status, int)
                                      or not 100 <= expect_status <= 599):
        raise ValueError(f"expect_status= takes an HTTP status such as 404, not {expect_status!r}")
    if isinstance(allow, str):
        raise TypeError(f"allow= takes a list of names, not the string {allow!r}")
    return {"allow": frozenset(allow), "heavy": (heavy,) if isinstance(heavy, str) else tuple(heavy)}


#: call_extras() for the defaults: drive() takes it as **keywords, so it is never changed.
_NO_EXTRAS: dict[str, Any] = {"allow": frozenset(), "heavy": ()}


def _longest(settings: Settings) -> float:
    """The longest a scenario can take on a responsive loop, in seconds."""
    trigger = settings.after
    before = (trigger.seconds or 0.0) + settings.watch_limit
    return before + settings.watch_limit + CANCEL_GRACE + SHUTDOWN_GRACE

