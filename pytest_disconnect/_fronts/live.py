"""Live mode: the same scenario behind a real server (uvicorn or hypercorn) on 127.0.0.1.

The server runs on the scenario's own event loop, so the app's tasks and threads are
watched exactly as in-process; the app is called through a shim that records what it
receives and sends (a LiveChannel, with the in-process channel's bookkeeping) and runs it
under the harness's cancel scope. A real client sends the request over a socket, reads
whatever comes back, and leaves at the chosen moment by closing its socket: FIN (close),
RST (SO_LINGER 0, then close) or a half-close (shutdown of its write side only).

Measured (uvicorn 0.54, hypercorn 0.18, loopback): both servers report all three closes to
the app as http.disconnect 0.2 ms after the client closed; uvicorn starts and stops in
about 0.1 ms on a bound socket, hypercorn in a few ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from .._asgi.channel import Channel, ChannelOptions
from .._asgi.request import Request
from .._compat import start_uvicorn
from .._errors import LiveSetupError
from .._scenario.app_call import AppCall
from .._scenario.serving import Serving, Spawn
from .._settings import Settings
from .._types import Message, Receive, Scope, Send
from .._watch.workset import WorkSet, current_workset

#: Seconds the client and the server get to go away after the verdict.
STOP_GRACE = 1.0


class LiveChannel(Channel):
    """The in-process channel's bookkeeping over a real server's receive()/send()."""

    def __init__(self, request: Request, options: ChannelOptions, *, close: str) -> None:
        self.close_mode = close
        self._client: LiveClient | None = None
        self._server_receive: Receive | None = None
        self._server_send: Send | None = None
        super().__init__(request, options)  # may leave at once (a request with no body)

    def connect(self, receive: Receive, send: Send) -> None:
        self._server_receive, self._server_send = receive, send

    def attach_client(self, client: LiveClient) -> None:
        self._client = client

    def leave(self, *, planned: float | None = None, reason: str | None = None) -> bool:
        was_left = self.left
        left = super().leave(planned=planned, reason=reason)
        if left and not was_left and self._client is not None:
            self._client.close(self.close_mode)
        return left

    async def receive(self) -> Message:
        assert self._server_receive is not None
        self.receive_calls += 1
        token = current_workset.set(None)  # the server's own tasks (timers, queues) are not the app's
        try:
            message = await self._server_receive()
        finally:
            current_workset.reset(token)
        kind = message.get("type")
        if kind == "http.request":
            more = bool(message.get("more_body", False))
            self._record_chunk(bytes(message.get("body", b"")), more)
            if not more and self.trigger.kind == "request-chunks" and self.trigger.count is None:
                self.leave()  # body-read: the app has the whole body
        elif kind == "http.disconnect":
            if not self.left and not self.response_complete:
                self.leave(reason="the server reported a disconnect the client did not make")
            return self._disconnect_message()
        return message

    async def send(self, message: Message) -> None:
        await super().send(message)  # checks and records; the real server decides the rest
        assert self._server_send is not None
        token = current_workset.set(None)
        try:
            await self._server_send(message)
        finally:
            current_workset.reset(token)


class LiveClient:
    """A raw HTTP/1.1 client over one socket, leaving when told."""

    def __init__(self, port: int, request: Request, channel: LiveChannel) -> None:
        self._port = port
        self._request = request
        self._channel = channel
        self._writer: asyncio.StreamWriter | None = None
        self._pending_close: str | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        self._writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(self._drain(reader))
        request = self._request
        head = [f"{request.method} {request.target.split(' ', 1)[1]} HTTP/1.1".encode("latin-1")]
        head += [name + b": " + value for name, value in request.headers]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        trigger = self._channel.trigger
        chunks = list(request.chunks)
        if trigger.kind == "request-chunks" and trigger.count is not None:
            chunks = chunks[:trigger.count]  # a client that leaves mid-upload never sends the rest
        for chunk in chunks:
            writer.write(chunk)
        # No drain(): the transport sends the buffer as the server reads it, and an app that never
        # reads a large body must not hold the scenario up before its clock even runs.
        if self._pending_close is not None:
            self._close_now(self._pending_close)
        elif trigger.kind == "request-chunks" and trigger.count is not None:
            self._channel.leave()  # the chunks are on their way; the client is gone

    def close(self, mode: str) -> None:
        if self._writer is None:
            self._pending_close = mode  # asked to leave before it connected: right after sending
        else:
            self._close_now(mode)

    def _close_now(self, mode: str) -> None:
        writer = self._writer
        assert writer is not None
        if writer.is_closing():
            return
        if mode == "rst":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif mode == "half-close":
            if writer.can_write_eof():
                writer.write_eof()  # FIN on our side; keep reading what the server sends
        else:
            writer.close()

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        """Read and drop the response, so the server never blocks on a full socket."""
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass

    async def stop(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task


class LiveServer:
    """uvicorn or hypercorn serving one scenario's shim on an ephemeral port of 127.0.0.1."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: Where HTTP requests go; set by the scenario (LiveRun) once it exists.
        self.handler: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._stopped = False
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._stop: Callable[[], Any] | None = None

    async def start(self) -> None:
        try:
            if self.name == "uvicorn":
                await self._start_uvicorn()
            elif self.name == "hypercorn":
                await self._start_hypercorn()
            else:
                raise LiveSetupError(f"live mode serves the app with uvicorn or hypercorn; "
                                     f"server={self.name!r} has no live server")
        except BaseException:
            self._sock.close()
            raise

    async def _start_uvicorn(self) -> None:
        self._stop = await start_uvicorn(_import("uvicorn"), self._dispatch, self._sock)

    async def _start_hypercorn(self) -> None:
        _import("hypercorn")
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{self._sock.fileno()}"]
        config.accesslog = None
        quiet = logging.getLogger("pytest_disconnect.hypercorn")
        quiet.disabled = True
        config.errorlog = quiet
        config.graceful_timeout = STOP_GRACE
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            serve(self._dispatch, config, shutdown_trigger=shutdown.wait))  # type: ignore[arg-type]

        async def stop() -> None:
            shutdown.set()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, STOP_GRACE * 2)

        self._stop = stop

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "lifespan":
            await answer_lifespan(receive, send)
        elif self.handler is not None:
            await self.handler(scope, receive, send)

    async def stop(self) -> None:
        """Stop accepting, close connections, free the port; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._stop is not None:
                await self._stop()
        finally:
            with contextlib.suppress(OSError):  # hypercorn closes an fd:// socket itself
                self._sock.close()


class LiveRun:
    """One scenario behind a real server: the server calls the app through a shim; a client asks."""

    def __init__(self, server: LiveServer, request: Request, channel: LiveChannel, call: AppCall,
                 workset: WorkSet, state: Mapping[str, Any]) -> None:
        self._request = request
        self._channel = channel
        self._call = call
        self._state = state
        self._workset = workset
        self._served = False
        self._started = False
        self._server = server
        server.handler = self._shim
        self._client: LiveClient | None = None

    async def start(self) -> None:
        """The server is already listening (its start-up is not part of the scenario): ask it."""
        client = self._client = LiveClient(self._server.port, self._request, self._channel)
        self._channel.attach_client(client)
        if self._channel.left:  # it left before sending anything more: right after the request
            client.close(self._channel.close_mode)
        await client.start()
        self._started = True

    async def stop(self) -> None:
        try:
            if self._client is not None:
                await self._client.stop()
        finally:
            await self._server.stop()
        if self._started and not self._served:
            why = (f"the client left ({self._channel.close_mode}) before the request was complete, and "
                   "the server dropped it: nothing ran, so nothing could be checked"
                   if self._channel.left else "the request did not reach it (see the server's log above)")
            raise LiveSetupError(f"{self._server.name} never called the app for {self._request.target}: {why}")

    async def _shim(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or self._served:
            return  # not our client: a second connection gets nothing
        self._served = True
        self._channel.connect(receive, send)
        scope["state"] = dict(self._state)  # the lifespan ran in-process, not in the server
        # This task's context: what the app spawns inherits it; what the server does after, not.
        token = current_workset.set(self._workset)
        try:
            task = asyncio.current_task()
            self._workset.started(task, task.get_coro() if task is not None else None,
                                  f"{self._server.name}: {self._request.target}", "app")
            await self._call.run(scope)
        finally:
            current_workset.reset(token)


class LiveServing:
    """A scenario's server in live mode: a real server on the loop, a real client over a socket."""

    has_hooks = True

    def __init__(self, server: str, close: str) -> None:
        self._name = server
        self._close = close
        self._server: LiveServer | None = None
        self._channel: LiveChannel | None = None
        self._run: LiveRun | None = None

    async def open(self, backend: str) -> None:
        if backend != "asyncio":
            raise LiveSetupError(f"live mode runs on asyncio (uvicorn's loop), not {backend}")
        server = LiveServer(self._name)
        await server.start()
        self._server = server

    def channel(self, request: Request, options: ChannelOptions) -> Channel:
        self._channel = LiveChannel(request, options, close=self._close)
        return self._channel

    async def begin(self, call: AppCall, request: Request, state: Mapping[str, Any] | None,
                    workset: WorkSet, spawn: Spawn) -> None:
        """The server calls the app (through a shim) when a real client sends the request."""
        assert self._server is not None and self._channel is not None
        self._run = LiveRun(self._server, request, self._channel, call, workset,
                            state if state is not None else (request.state or {}))
        await self._run.start()

    async def finish(self) -> None:
        if self._run is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_GRACE * 3):
                await self._run.stop()

    async def close(self) -> None:
        if self._server is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_GRACE * 3):
                await self._server.stop()


def serving_for(settings: Settings) -> Serving | None:
    """The server a scenario with these settings needs: a live one, or None (in-process)."""
    if settings.live == "off":
        return None
    return LiveServing(settings.server, settings.live)


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """hypercorn always runs the lifespan protocol; the app's own startup is not under test."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise LiveSetupError(f"live mode with server={name!r} needs {name} installed: "
                             "pip install 'pytest-disconnect[live]'") from None
