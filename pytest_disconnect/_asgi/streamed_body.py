"""A request body the client streams: read from it as the app asks, one chunk per receive().

httpx's ASGITransport reads a request's body stream chunk by chunk as the app calls receive(),
so an app that stops reading (a body size limit answering 413) leaves the rest unread at the
client, and a test can check how much was read. A transport that read the whole stream before
calling the app would consume it all. Like ASGITransport, each chunk comes with
``more_body=True`` and the end of the stream as an empty last chunk: knowing whether a chunk
is the last would mean reading one ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio


class StreamedBody:
    """The client's body stream, read on demand from the app's receive()."""

    __slots__ = ("_chunks", "_reading", "ended")

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        #: Nothing more to read: the stream ended, or the client left.
        self.ended = False
        self._reading: anyio.CancelScope | None = None

    async def next(self) -> tuple[bytes, bool] | None:
        """The next chunk and whether more may follow; None when the client left during the read
        (the app then gets the disconnect, as from a server whose client went away mid-upload)."""
        with anyio.CancelScope() as scope:
            self._reading = scope
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self.ended = True
                return b"", False
            finally:
                self._reading = None
            return bytes(chunk), True
        return None  # stop() cancelled the read

    def stop(self) -> None:
        """The client left: nothing more is read, and a read under way ends now."""
        self.ended = True
        if self._reading is not None:
            self._reading.cancel()
