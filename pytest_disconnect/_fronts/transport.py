"""DisconnectTransport: httpx requests to an ASGI app, where a client that gives up reaches
the app as ``http.disconnect``, never as a cancellation of the app.

httpx's ASGITransport runs the app inside the caller's task: a client timeout is
ignored, and cancelling the caller cancels the app directly, so a handler with no
disconnect handling looks stopped (the bug catalogue's B11). Here each request is a scenario
whose app runs in a task of its own; the caller only talks to it through the channel. The caller
starts it, waits for the response's head and, when the whole response came with it (most
requests), runs the rest of the scenario itself: one task a request, and no loop turn when the
task starts eagerly (Python 3.12+) and the app answers without suspending (else one, see
Backend.first_step). A response still coming gets the rest of the scenario in a task beside the
caller's reads. A streamed request body is read as the app asks (see _asgi/streamed_body.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from types import ModuleType
from typing import Any, Unpack

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from .._asgi.channel import Channel, ClientSide
from .._asgi.request import Request
from .._asgi.streamed_body import StreamedBody
from .._asgi.trigger import CLIENT_DECIDES, Trigger
from .._backends import current as current_backend
from .._errors import ClientLeft, NotAnASGIApp
from .._report.kept_results import Results
from .._report.text import headline
from .._result import DisconnectResult, Entry
from .._scenario.driver import Started, check_app, start
from .._settings import TRANSPORT_OPTIONS, Settings, Source, TransportOptions, apply, keyword_options
from .._types import ASGIApp, WaitableEvent
from . import current as _current
from .answers import NO_RESPONSE, attach_extensions, no_response
from .clients import PortalFactory, async_stream, library_of, new_portal, sync_stream
from .fixture import call_extras, judge
from .live import serving_for

_SOURCE = Source("call", "DisconnectTransport()")


class DisconnectTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """An httpx transport over an ASGI app, like ``httpx.ASGITransport``, except that a
    client that gives up (its read timeout expires, or the calling task is cancelled,
    or it closes a streamed response early) is a disconnect the app sees through
    ``receive()``/``send()``, and each request's work is watched until it stops.

    A drop-in for ``httpx.ASGITransport`` and ``httpx2.ASGITransport``: it takes their
    arguments (``app``, ``raise_app_exceptions``, ``root_path``, ``client``) and serves
    ``httpx.AsyncClient``, ``httpx.Client``, ``httpx2.AsyncClient`` and ``httpx2.Client``
    (a sync client's requests run on a ``backend`` event loop in a worker thread, one loop
    for the client's ``with`` block). Like them, it does not run the app's lifespan.

    ``after`` plans a disconnect for every request (``--disconnect-after`` and the
    marker do the same for a whole run or test); ``tolerance``, ``patience``,
    ``server``, ``clock``, ``live``, ``allow``, ``heavy`` and ``check`` are as for
    ``disconnect.run()`` (with ``live``, each request goes through a real server).
    With ``check=True`` a request whose work outlived the tolerance raises
    HandlerKeptRunning. ``results`` holds every request's DisconnectResult.
    """

    def __init__(
        self, app: ASGIApp, raise_app_exceptions: bool = True, root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123), *, allow: Iterable[str] = (),
        heavy: str | Iterable[str] = (), check: bool = True, backend: str = "asyncio",
        **options: Unpack[TransportOptions],
    ) -> None:
        keyword_options("DisconnectTransport.__init__()", TRANSPORT_OPTIONS, options)
        check_app(app)
        if backend not in ("asyncio", "trio"):
            raise ValueError(f"backend must be 'asyncio' or 'trio', not {backend!r}")
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self.check = check
        #: The requests' results, in the order their verdicts came: every one, or in a long loop the
        #: first failing ones and the last ones (``results.total`` counts them all; see _report/kept_results.py).
        self.results = Results()
        self._overrides = options
        apply(Settings(), _SOURCE, self._overrides)  # a bad value fails here, naming the argument
        self._extras = call_extras(allow, heavy)
        self._open: set[_Exchange] = set()
        #: For a sync client: where its requests' loops come from, and the one its ``with`` block holds.
        self._portals: PortalFactory = new_portal(backend)
        self._held: tuple[BlockingPortal, ExitStack] | None = None
        #: The app's scope["state"] (a TestClient's lifespan state): each request gets a shallow copy.
        self._state: dict[str, Any] | None = None
        #: scope["extensions"] to offer (an audited TestClient's http.response.debug).
        self._extensions: dict[str, dict[str, object]] | None = None
        #: True when --disconnect-audit made this transport, not the test: advice then names run-wide settings.
        self._audit = False
        #: What the client raises for an app that returned without a response (an audited TestClient's words).
        self._no_response = NO_RESPONSE
        #: The last test's settings, the requests' settings over them, and when the client leaves.
        self._resolved: tuple[Settings | None, Settings, Trigger] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        library = library_of(request)
        if not isinstance(request.stream, library.AsyncByteStream):
            raise TypeError(f"a request with a sync body reached the async API; use {library.__name__}."
                            f"AsyncClient (or {library.__name__}.Client) as it is")
        exchange, (status, headers) = await self._open_exchange(request, None, library)
        parts = exchange.buffered()
        response: httpx.Response = library.Response(
            status, headers=headers, stream=async_stream(library, _Body(exchange) if parts is None else None, parts),
            request=request)
        attach_extensions(response, exchange.channel)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """A sync client's request: the scenario runs on a portal's loop, the body is read through it."""
        __tracebackhide__ = True
        library = library_of(request)
        if not isinstance(request.stream, library.SyncByteStream):
            raise TypeError(f"a request with an async body reached the sync API; use {library.__name__}."
                            f"Client (or {library.__name__}.AsyncClient) as it is")
        chunks = [bytes(chunk) for chunk in request.stream]
        stack = ExitStack()  # closes a loop started for this request only, with its response
        portal = self._held[0] if self._held is not None else stack.enter_context(self._portals())
        try:
            exchange, (status, headers) = portal.call(self._open_exchange, request, chunks, library)
        except BaseException:
            stack.close()
            raise
        parts = exchange.buffered()
        if parts is not None:  # judged already: a loop started for this request only can end now
            stack.close()
        response: httpx.Response = library.Response(
            status, headers=headers,
            stream=sync_stream(library, _Body(exchange) if parts is None else None, portal, stack, parts),
            request=request)
        attach_extensions(response, exchange.channel)
        return response

    async def _open_exchange(self, request: httpx.Request, chunks: list[bytes] | None, library: ModuleType
                             ) -> tuple[_Exchange, tuple[int, list[tuple[bytes, bytes]]]]:
        """``chunks``: a sync client's body, read whole; None: the async stream, read here."""
        __tracebackhide__ = True
        context = _current.current()
        settings, planned = self._settings(context.settings if context is not None else None)
        stream = None
        if chunks is None:
            chunks, stream = await _body(request, library, whole=planned.kind == "request-chunks" or
                                         settings.live != "off")
        scenario = _to_request(request, chunks, root_path=self.root_path, client=self.client,
                               state=self._state, extensions=self._extensions, stream=stream)
        exchange = _Exchange(self, request, scenario, settings, planned, context, library)
        return exchange, await exchange.open()

    def _settings(self, base: Settings | None) -> tuple[Settings, Trigger]:
        """The requests' settings over the test's (``base``), and when the client leaves; worked out
        once per test, not per request."""
        cached = self._resolved
        if cached is not None and cached[0] is base:
            return cached[1], cached[2]
        settings = apply(base if base is not None else Settings(), _SOURCE, self._overrides)
        # Only a moment someone chose: by default the client leaves when it gives up.
        planned = settings.after if "after" in settings.sources else CLIENT_DECIDES
        if planned is CLIENT_DECIDES:
            settings = replace(settings, after=CLIENT_DECIDES,
                               sources={**settings.sources, "after": "DisconnectTransport: the client's timeout"})
        self._resolved = (base, settings, planned)
        return settings, planned

    def __enter__(self) -> DisconnectTransport:
        """A sync client's ``with`` block: its requests share one event loop until it ends."""
        if self._held is None:
            stack = ExitStack()
            self._held = stack.enter_context(self._portals()), stack
        return self

    def close(self) -> None:
        """A sync client closing: responses still open see their client leave, then its loop ends."""
        __tracebackhide__ = True
        held, self._held = self._held, None
        if held is None:
            return  # responses read through a loop of their own close with it
        portal, stack = held
        with stack:
            portal.call(self.aclose)

    async def aclose(self) -> None:
        """Closing the client closes its connections: an exchange still open sees its client leave."""
        __tracebackhide__ = True
        for exchange in list(self._open):
            await exchange.close("the client was closed")

    def __repr__(self) -> str:
        return f"<DisconnectTransport {getattr(self.app, '__qualname__', type(self.app).__name__)}>"


def unfinished(transport: DisconnectTransport) -> int:
    """How many of ``transport``'s responses were neither read to the end nor closed (never judged)."""
    return len(transport._open)


def for_audit(transport: DisconnectTransport, *, portals: PortalFactory | None = None,
              state: dict[str, Any] | None = None,
              extensions: dict[str, dict[str, object]] | None = None,
              no_response: str | None = None) -> DisconnectTransport:
    """Mark ``transport`` as made by --disconnect-audit (its advice names run-wide settings), on a
    TestClient's ``portals`` (its loop, inside ``with``), with its lifespan ``state`` and ``extensions``,
    raising ``no_response`` for an app that returned without a response."""
    transport._audit = True
    transport._no_response = no_response if no_response is not None else transport._no_response
    if portals is not None:
        transport._portals = portals
    transport._state = state if state is not None else transport._state
    transport._extensions = extensions if extensions is not None else transport._extensions
    return transport


class _TimedOut(Exception):
    pass


class _Exchange:
    """One request, driven from the caller's task: the caller starts the app (the request's only
    task), waits for the response's head, and runs the scenario's phases itself when the whole
    response came with the head (handed over buffered, as ASGITransport does), when none came
    (the client left, timed out or was cancelled, or the app ended without one); a response still
    coming gets them in a task (see _after_head)."""

    def __init__(self, transport: DisconnectTransport, original: httpx.Request, request: Request,
                 settings: Settings, planned: Trigger, context: _current.TestContext | None,
                 library: ModuleType) -> None:
        self.transport = transport
        self.library = library  # httpx or httpx2: the client's own exception classes
        self.original = original
        self.request = request
        self.settings = settings
        self.planned = planned
        self.context = context
        self.timeout = _read_timeout(original)
        self.started: Started | None = None
        self.channel: Channel | None = None
        self.result: DisconnectResult | None = None
        self.crash: BaseException | None = None
        self.finished = False  # the scenario's phases ended (result or crash set)
        self.concluded = False
        self.handed = 0  # body parts handed to the caller
        self.head_given = False  # the status and headers were handed to the caller
        self._leave_reason: str | None = None
        self._phases_begun = False
        #: Every task waiting on this exchange (a reader, and a client closing it from elsewhere).
        self._waiters: set[WaitableEvent] = set()
        self._loop = current_backend()
        if context is not None:  # until concluded: a test that ends first is told its verdict was lost
            context.pending[self] = request.target
        self._task: object = None  # the phases' task, when they run beside the reader (asyncio keeps weak refs)

    async def open(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The response's status and headers once they reached the client; raises if none did."""
        __tracebackhide__ = True
        transport = self.transport
        transport._open.add(self)
        try:
            # The read timeout counts from the scenario's start (exact numbers on the virtual clock).
            # The channel wakes the waiters through the set itself, not a method of this exchange:
            # no reference cycle, so a finished request is freed by reference counting.
            started = await start(transport.app, self.request, self.settings,
                                  ClientSide(partial(_wake_all, self._waiters), self.timeout),
                                  trigger=self.planned, entry=self._entry(), serving=serving_for(self.settings),
                                  **transport._extras)
        except BaseException as exc:
            self.crash, self.finished, self.concluded = exc, True, True
            self._forget()
            self._wake()
            raise
        self.started, channel = started, started.channel
        self.channel = channel
        if self._leave_reason is not None:  # the client gave up while the scenario began (live mode)
            channel.leave(reason=self._leave_reason)
        await self._until(self._has(lambda channel: channel.delivered_start or channel.left),
                          since=started.began, moment=self._moment(started.began), first_step=True)
        if channel.delivered_start:
            self.head_given = True
            await self._after_head(channel)
            return channel.status or 500, list(channel.headers)
        # Shielded: a caller cancelled now (its own timeout, say) must still get the verdict.
        with self._loop.new_cancel_scope(shield=True):
            result = await self._conclude()
        if channel.left:
            raise self._gone(result)
        return no_response(raise_app_exceptions=transport.raise_app_exceptions,
                           app_raised=result.app_error is not None, message=transport._no_response)

    async def _after_head(self, channel: Channel) -> None:
        """The head reached the caller: conclude now if the whole response did and the app ended.
        A response still coming, or whole while the app runs on (a BackgroundTask: the head reaches
        the test at once, as from a real server and TestClient; reading the body to its end still
        waits for the app, as with ASGITransport), gets the phases in a task beside the caller's
        reads: a planned client leaves at its moment, work is cancelled at the limit however slowly
        the caller reads, and a response the test never reads nor closes still ends with its loop
        (the task is cancelled then)."""
        if channel.delivered_complete and self.ended:
            with self._loop.new_cancel_scope(shield=True):
                await self._conclude()
        elif not self.finished:  # still coming, or whole while the app runs on (a BackgroundTask)
            self._phases_begun = True
            self._task = self._loop.spawn_detached(self._phases, f"pytest-disconnect client: {self.request.target}")

    def _moment(self, began: float) -> float | None:
        """When a timed client leaves, on the loop's clock: the head wait ends there, and the phases leave."""
        planned = self.planned
        return began + planned.seconds if planned.kind == "time" and planned.seconds else None

    def buffered(self) -> list[bytes] | None:
        """The whole body, when the exchange was concluded before its head was handed over."""
        if not self.concluded:
            return None
        channel = self.channel
        if channel is None or self.original.method == "HEAD":  # as ASGITransport and TestClient: no body for HEAD
            return []
        return [part for part in channel.delivered if part]

    async def _phases(self) -> None:
        """The scenario's second half, run once, by whoever needs the verdict first."""
        started = self.started
        assert started is not None
        try:
            self.result = await started.finish()
        except BaseException as exc:  # a system task must not raise; whoever concludes re-raises it
            self.crash = exc
        finally:
            self.finished = True
            self._wake()

    async def _finish(self) -> None:
        """Run the phases here, unless a task of this exchange already does; wait for their end."""
        if not self._phases_begun and self.started is not None:
            self._phases_begun = True
            await self._phases()
        while not self.finished:
            await self._wait(None)

    @property
    def ended(self) -> bool:
        """The app returned (or the scenario ended): nothing more will come."""
        return self.finished or (self.started is not None and self.started.app_returned)

    def _entry(self) -> Entry:
        """An audit when --disconnect-audit made the transport, or the run (command line or ini)
        planned the disconnect, not this test."""
        run_wide = self.settings.source("after").startswith(("--disconnect-after", "disconnect_after",
                                                              "-o disconnect_after"))
        return "audit" if run_wide or self.transport._audit else "transport"

    def _wake(self) -> None:
        _wake_all(self._waiters)

    async def _wait(self, deadline: float | None) -> bool:
        """Wait for the next change; False if ``deadline`` came first."""
        event = self._loop.new_event()
        self._waiters.add(event)
        try:
            return await self._loop.wait(event, deadline)
        finally:
            self._waiters.discard(event)

    def _has(self, what: Callable[[Channel], bool]) -> Callable[[], bool]:
        return lambda: self.ended or (self.channel is not None and what(self.channel))

    async def _until(self, ready: Callable[[], bool], *, since: float | None = None,
                     moment: float | None = None, first_step: bool = False) -> None:
        """Wait for ``ready()`` within the read timeout (from ``since``, or now); a client giving up
        leaves first. A timed client's ``moment`` ends the wait too (the phases then leave).
        ``first_step``: the app's task was just spawned; most apps answer in their first step."""
        __tracebackhide__ = True
        loop = self._loop
        start = loop.now() if since is None else since
        deadline = None if self.timeout is None else start + self.timeout
        channel = self.channel
        if deadline is not None and channel is not None and self.timeout is not None and since is None:
            # What the app sends after this reaches nobody, even if a blocked loop delays the timer.
            channel.gives_up_at = channel.now() + self.timeout
        first = deadline if moment is None or (deadline is not None and deadline < moment) else moment
        try:
            if first_step and not ready():
                await loop.first_step()
            while not ready():
                woken = await self._wait(first)
                if moment is not None and not ready() and loop.now() >= moment and first == moment:
                    return  # the planned moment came first: the phases make the client leave
                expired = deadline is not None and (not woken or loop.now() >= deadline)
                if expired and (not ready() or self._gave_up_first()):
                    raise _TimedOut
            if channel is not None:
                channel.gives_up_at = None
        except _TimedOut:
            await self.close(f"its read timeout ({self.timeout:g} s) expired")
            raise self.library.ReadTimeout(f"no response within the read timeout of {self.timeout:g} s",
                                           request=self.original) from None
        except anyio.get_cancelled_exc_class():
            await self.close("its task was cancelled")
            raise

    def _gave_up_first(self) -> bool:
        """The client's timeout came before its planned leaving, with nothing new for it to read
        (a blocked loop ran both late): the timeout is what the client saw."""
        channel = self.channel
        if channel is None or channel.gives_up_at is None or channel.disconnected_at is None:
            return False
        fresh = (self.handed < len(channel.delivered) or channel.delivered_complete) if self.head_given \
            else channel.delivered_start
        return channel.gives_up_at < channel.disconnected_at and not fresh

    async def close(self, reason: str) -> DisconnectResult:
        """The client leaves (unless it has the whole response), then the verdict is awaited."""
        __tracebackhide__ = True
        channel = self.channel
        if not (self.concluded or self.finished or (channel is not None and channel.delivered_complete)):
            if channel is None:
                self._leave_reason = f"the client gave up: {reason}"
            elif not channel.left:
                channel.leave(reason=f"the client gave up: {reason}")
        if self.finished:  # nothing to wait for: no need for a shield
            return await self._conclude()
        with self._loop.new_cancel_scope(shield=True):  # a cancelled caller still gets its verdict
            result = await self._conclude()
        return result

    async def _conclude(self) -> DisconnectResult:
        """Run (or wait for) the scenario's end (bounded by the watch limit), record it, judge it once."""
        __tracebackhide__ = True
        await self._finish()
        if self.crash is not None:
            raise self.crash
        result = self.result
        assert result is not None
        if self.concluded:
            return result
        self.concluded = True
        self._forget()
        self.transport.results.append(result)
        if self.context is not None:
            self.context.record(result, section=result.disconnected_at is not None or not result.passed)
        error = result.app_error
        if not self.transport.raise_app_exceptions and isinstance(error, Exception) and not isinstance(
                error, NotAnASGIApp):
            judge(replace(result, app_error=None), self.transport.check)  # a 500 instead, as ASGITransport
            return result
        return judge(result, self.transport.check)

    def _forget(self) -> None:
        self.transport._open.discard(self)
        if self.context is not None:
            self.context.pending.pop(self, None)

    def _gone(self, result: DisconnectResult) -> Exception:
        """What the caller gets when the connection went away under it without its asking."""
        if self.planned is CLIENT_DECIDES:  # closed from elsewhere (client.aclose() in another task)
            stream_closed: Exception = self.library.StreamClosed()
            return stream_closed
        return self._left(result)

    def _left(self, result: DisconnectResult) -> ClientLeft:
        return ClientLeft(f"{headline(result)}; the client left {self.planned.describe()} "
                          f"({self.settings.source('after')}), so there is no response to check", result)


def _wake_all(waiters: set[WaitableEvent]) -> None:
    for event in waiters:
        event.set()


class _Body:
    """The response body as the app sends it: no buffering before handing it over.

    An iterator object rather than an async generator: trio warns about generators
    dropped unfinished, and a client that stops reading early is what we test.
    """

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        __tracebackhide__ = True
        exchange = self._exchange
        channel = exchange.channel
        assert channel is not None
        head = exchange.original.method == "HEAD"  # as ASGITransport and TestClient: no body for HEAD
        while True:
            while exchange.handed < len(channel.delivered):
                part = channel.delivered[exchange.handed]
                exchange.handed += 1
                if part and not head:
                    return part
            if channel.delivered_complete:
                # As with ASGITransport, the client is done when the app is (a BackgroundTask runs first).
                await exchange.close("")
                raise StopAsyncIteration
            if channel.left or exchange.ended:
                result = await exchange.close("")
                if channel.left:
                    raise exchange._gone(result)
                if channel.trailers_due:
                    raise StopAsyncIteration  # as TestClient: the whole body, and what trailers came
                if result.app_error is not None and not exchange.transport.raise_app_exceptions:
                    raise StopAsyncIteration  # what the app sent, as ASGITransport gives it
                raise exchange.library.RemoteProtocolError("the app ended before its response was complete",
                                                           request=exchange.original)
            await exchange._until(exchange._has(
                lambda channel: len(channel.delivered) > exchange.handed or channel.delivered_complete
                or channel.left))

    async def aclose(self) -> None:
        __tracebackhide__ = True
        await self._exchange.close("it closed the response before its end")


async def _body(request: httpx.Request, library: ModuleType, *, whole: bool
                ) -> tuple[list[bytes], StreamedBody | None]:
    """The request body: bytes given whole (``content=``, ``json=``, ``data=``) as chunks, a stream
    to read as the app asks (as ASGITransport does), unless ``whole`` (a client leaving after so
    many chunks must know how many there are; a real server in live mode gets it whole)."""
    stream = request.stream
    if isinstance(stream, library.ByteStream):  # bytes given whole: its sync iterator, no async generator
        return [bytes(chunk) for chunk in stream], None
    assert isinstance(stream, httpx.AsyncByteStream | library.AsyncByteStream)  # checked by the caller
    if whole:
        return [bytes(chunk) async for chunk in stream], None
    return [], StreamedBody(stream.__aiter__())


def _to_request(request: httpx.Request, chunks: list[bytes], *, stream: StreamedBody | None = None,
                **extra: Any) -> Request:
    url = request.url
    raw_path = url.raw_path.partition(b"?")[0]
    default_port = 443 if url.scheme == "https" else 80
    return Request(
        method=request.method, path=url.path, raw_path=raw_path.decode("ascii"), query_string=url.query,
        headers=tuple((name.lower(), value) for name, value in request.headers.raw),
        chunks=tuple(chunk for chunk in chunks if chunk) or (() if stream is not None else (b"",)), stream=stream,
        scheme=url.scheme, server=(url.host, default_port if url.port is None else url.port), **extra,
    )


def _read_timeout(request: httpx.Request) -> float | None:
    timeout: Any = request.extensions.get("timeout", {})
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return float(read) if isinstance(read, (int, float)) else None
