"""--disconnect-audit's seam in Litestar's test clients (``litestar.testing``).

``TestClient`` and ``AsyncTestClient`` share one transport, ``TestClientTransport``, whose
``handle_request`` runs each request on the client's blocking portal: the loop its ``with``
block started (where Litestar ran the lifespan, so the app's state and anything bound to that
loop are the handlers'), or a fresh loop per request outside it, on the client's ``backend``.
``handle_async_request`` only calls ``handle_request``: the async client blocks its own loop
while the app runs on the portal's. The patched ``handle_request`` hands HTTP requests to a
DisconnectTransport on that same portal; websockets keep Litestar's own session.

Every name read here is public in Litestar 2.x (checked against 2.25): the transport's
``client``, ``raise_server_exceptions`` and ``root_path``, the client's ``app`` and ``portal()``.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import httpx

from .answers import TESTCLIENT_NO_RESPONSE
from .audit_seams import auditing, ours, swap
from .clients import AsyncParts
from .transport import DisconnectTransport, for_audit

#: Where the audit patches Litestar, and what it reads there (checked against Litestar 2.25).
TRANSPORT_MODULE = "litestar.testing.transport"
TRANSPORT = "TestClientTransport"
FIELDS = ("client", "raise_server_exceptions", "root_path")
#: The client address Litestar's TestClientTransport puts in each scope.
CLIENT = ("testclient", 50000)


def patch_litestar(module: Any) -> list[Any]:
    """Swap ``TestClientTransport.handle_request`` in ``module`` (litestar.testing.transport); return the undo."""
    kind = getattr(module, TRANSPORT, None)
    if kind is None or not callable(getattr(kind, "handle_request", None)):
        _moved(f"{TRANSPORT}.handle_request")
    original = kind.handle_request

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        __tracebackhide__ = True
        # A websocket, a test that is not audited, or a body DisconnectTransport cannot read
        # without the client's loop (an async iterator: Litestar's own transport cannot either).
        if (request.url.scheme in ("ws", "wss") or not auditing()
                or not isinstance(request.stream, httpx.SyncByteStream)):
            return original(self, request)  # type: ignore[no-any-return]
        response: httpx.Response = ours(self, lambda: _transport_for(self)).handle_request(request)
        stream: Any = response.stream
        # The end of the client's `with` closes a response still open (the client leaving), while
        # its loop still runs: its request gets a verdict. (Litestar's own responses are whole.)
        stream.on_close = _close_with_client(self.client, stream.close)
        # The async client takes only an async stream; the sync one a sync stream: this is both.
        response.stream = _EitherStream(response.stream)
        # What Litestar's transport sets on every response (its template extension, never sent by Litestar).
        response.template = None  # type: ignore[attr-defined]
        response.context = None  # type: ignore[attr-defined]
        return response

    return [swap(kind, "handle_request", handle_request)]


def _transport_for(transport: Any) -> DisconnectTransport:
    """A DisconnectTransport over the Litestar client's app, on the client's own portal."""
    missing = next((name for name in FIELDS if not hasattr(transport, name)), None)
    client: Any = getattr(transport, "client", None)
    if missing is None and not (hasattr(client, "app") and callable(getattr(client, "portal", None))):
        missing = "client.app or client.portal()"
    if missing is not None:
        _moved(f"{TRANSPORT}.{missing}")
    return for_audit(DisconnectTransport(client.app, transport.raise_server_exceptions, transport.root_path,
                                         CLIENT), portals=client.portal,
                     no_response=TESTCLIENT_NO_RESPONSE)  # Litestar's words are Starlette's


# Per Litestar client inside its `with`: its exit stack, and the audited responses still open.
_OPEN: weakref.WeakKeyDictionary[object, tuple[object, set[Callable[[], None]]]] = weakref.WeakKeyDictionary()


def _close_with_client(client: Any, close: Callable[[], None]) -> Callable[[], None]:
    """Have the end of ``client``'s ``with`` block call ``close`` (first, before Litestar shuts
    the lifespan and the loop down); return what takes it off that list once the response closed."""
    stack = getattr(client, "exit_stack", None)
    if stack is None or not hasattr(client, "blocking_portal"):
        return lambda: None  # outside `with`: the response has a loop of its own, ended by its close
    entry = _OPEN.get(client)
    if entry is None or entry[0] is not stack:  # a new `with` block: one callback for all its responses
        closers: set[Callable[[], None]] = set()

        def close_open() -> None:
            for each in list(closers):
                each()

        stack.callback(close_open)
        entry = _OPEN[client] = (stack, closers)
    entry[1].add(close)
    return lambda: entry[1].discard(close)


class _EitherStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """DisconnectTransport's sync response stream, readable by an async client too: each part is
    fetched through the portal and waited for in the caller's thread, blocking the caller's loop,
    as Litestar's own transport blocks it for the whole request."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        self._inner.close()

    def __aiter__(self) -> AsyncParts:
        return AsyncParts(self._inner)

    async def aclose(self) -> None:
        self._inner.close()


def _moved(what: str) -> NoReturn:
    version = getattr(sys.modules.get("litestar"), "__version__", "?")
    raise RuntimeError(f"--disconnect-audit cannot patch litestar {version}: {TRANSPORT_MODULE}.{what} is not "
                       "where pytest-disconnect expects it (checked against litestar 2.25); audit that suite "
                       "with DisconnectTransport instead (see docs/audit.md)")
