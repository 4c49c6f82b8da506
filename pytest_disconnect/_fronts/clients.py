"""What DisconnectTransport needs from the client it serves: httpx or httpx2, async or sync.

httpx and httpx2 have the same API under two module names, and each client only accepts
its own library's response and stream classes, so the transport answers in the library of
the request it got. A sync client gets the async scenario run on an event loop in a
worker thread through an anyio blocking portal, as Starlette's TestClient does.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from types import ModuleType
from typing import Any, Protocol

import anyio.from_thread
from anyio.from_thread import BlockingPortal

#: The client libraries served, by top-level module name.
LIBRARIES = ("httpx", "httpx2")
SERVED = "httpx.AsyncClient, httpx.Client, httpx2.AsyncClient or httpx2.Client"

PortalFactory = Callable[[], AbstractContextManager[BlockingPortal]]


class AsyncBody(Protocol):
    """The response body as the exchange hands it over."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


def library_of(request: object) -> ModuleType:
    """httpx or httpx2, whichever made ``request``; a clear TypeError for anything else."""
    __tracebackhide__ = True
    name = type(request).__module__.partition(".")[0]
    if name in LIBRARIES and name in sys.modules:
        return sys.modules[name]
    raise TypeError(f"DisconnectTransport serves httpx and httpx2 clients ({SERVED}), not a "
                    f"{type(request).__module__}.{type(request).__qualname__}: pass it as "
                    "`transport=` to one of those clients")


_ASYNC_STREAMS: dict[str, type] = {}
_SYNC_STREAMS: dict[str, type] = {}


class _AsyncStream:
    """An async byte stream over the exchange's body, for either library; ``parts``: the whole
    body, when the exchange was judged before its head was handed over (nothing left to wait for)."""

    def __init__(self, body: AsyncBody | None, parts: list[bytes] | None) -> None:
        self._body = body
        self._parts = parts

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._body is None:
            return AsyncParts(self._parts or [])
        return self._body.__aiter__()

    async def aclose(self) -> None:
        if self._body is not None:
            await self._body.aclose()


class AsyncParts:
    """Body parts (a buffered body, or a sync stream's) as an async iterator (an object, not an
    async generator: trio warns about those dropped unfinished)."""

    def __init__(self, parts: Iterable[bytes]) -> None:
        self._parts = iter(parts)

    def __aiter__(self) -> AsyncParts:
        return self

    async def __anext__(self) -> bytes:
        for part in self._parts:
            return part
        raise StopAsyncIteration


class _SyncStream:
    """A sync byte stream over the exchange's body: each part is fetched on the portal's loop."""

    def __init__(self, body: AsyncBody | None, portal: BlockingPortal, stack: ExitStack,
                 parts: list[bytes] | None) -> None:
        self._body = body  # None when ``parts`` is the whole body, already judged: read without the portal
        self._parts = parts
        self._portal = portal
        self._stack = stack  # closes the portal when it was started for this request
        self._closed = False
        #: Called once the stream is closed (a TestClient forgets it then).
        self.on_close: Callable[[], None] | None = None

    def __iter__(self) -> Iterator[bytes]:
        __tracebackhide__ = True
        if self._body is None:
            yield from self._parts or []
            return
        parts = self._body.__aiter__()
        while True:
            try:
                yield self._portal.call(parts.__anext__)
            except StopAsyncIteration:
                break

    def close(self) -> None:
        __tracebackhide__ = True
        if self._closed:
            return
        self._closed = True
        try:
            if self._body is not None:
                self._portal.call(self._body.aclose)
        finally:
            self._stack.close()
            if self.on_close is not None:
                self.on_close()


def async_stream(library: ModuleType, body: AsyncBody | None, parts: list[bytes] | None = None) -> Any:
    """``body`` (or, when it is None, ``parts``: the whole body, already there) as the library's
    AsyncByteStream (its clients accept only their own). The stream holds no exchange then: httpx's
    response and its stream hold each other, and what hangs off them waits for the cyclic GC."""
    kind = _ASYNC_STREAMS.get(library.__name__)
    if kind is None:
        kind = _ASYNC_STREAMS[library.__name__] = type("DisconnectAsyncStream",
                                                       (_AsyncStream, library.AsyncByteStream), {})
    return kind(body, parts)


def sync_stream(library: ModuleType, body: AsyncBody | None, portal: BlockingPortal, stack: ExitStack,
                parts: list[bytes] | None = None) -> Any:
    """``body`` as the library's SyncByteStream, read through ``portal`` (or, when it is None,
    ``parts``: the whole body, already there)."""
    kind = _SYNC_STREAMS.get(library.__name__)
    if kind is None:
        kind = _SYNC_STREAMS[library.__name__] = type("DisconnectSyncStream",
                                                      (_SyncStream, library.SyncByteStream), {})
    return kind(body, portal, stack, parts)


def new_portal(backend: str) -> PortalFactory:
    """A factory of fresh event loops in worker threads (one per request, as a TestClient without ``with``)."""
    return lambda: anyio.from_thread.start_blocking_portal(backend, name=f"pytest-disconnect {backend} loop")
