"""Live mode: the same scenarios behind real uvicorn and hypercorn, with a real client closing its socket."""

from __future__ import annotations

import socket
import sys
import threading

import anyio
import pytest

from pytest_disconnect import Disconnect, LiveSetupError
from pytest_disconnect._fronts.live import LiveServer
from pytest_disconnect._types import Receive, Scope, Send

from .apps import cancel_on_disconnect, read_body, thread_outlives_task

SERVERS = ("uvicorn", "hypercorn")
CLOSES = ("fin", "rst", "half-close")
WORK = 0.6


async def stops_when_told(scope: Scope, receive: Receive, send: Send) -> None:
    await read_body(receive)
    await cancel_on_disconnect(receive, lambda: anyio.sleep(WORK))


async def never_looks(scope: Scope, receive: Receive, send: Send) -> None:
    await anyio.sleep(WORK)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"late"})


@pytest.mark.parametrize("close", CLOSES)
@pytest.mark.parametrize("server", SERVERS)
def test_every_close_reaches_the_app_through_each_server(disconnect: Disconnect, server: str, close: str) -> None:
    # Generous bounds: a loaded machine delays a stop by tens of ms; the bad app's work ends 0.5 s
    # after the disconnect at the soonest, whatever the load.
    good = disconnect.run(stops_when_told, "GET", "/", after=0.1, tolerance=1.0, server=server, live=close,
                          check=False)
    assert good.verdict == "stopped"
    assert good.latency is not None and good.latency < 1.0
    assert "left (after=0.10 s)" in good.timeline.texts()
    assert good.settings.live == close and good.settings.server == server

    bad = disconnect.run(never_looks, "GET", "/", after=0.1, tolerance=0.2, server=server, live=close,
                         check=False)
    assert bad.verdict == "kept-running"
    assert bad.latency is not None and bad.latency > 0.3
    assert bad.status == 200 and bad.sends_after_disconnect == 2  # answered to nobody


@pytest.mark.parametrize("server", SERVERS)
def test_threads_are_watched_as_in_process(disconnect: Disconnect, server: str) -> None:
    live = disconnect.run(thread_outlives_task, "GET", "/", after=0.1, tolerance=0.2, patience=2.0,
                          server=server, live="fin", check=False)
    assert live.verdict == "kept-running"
    assert [record.kind for record in live.work if record.kind == "thread"] == ["thread"]


def test_a_request_body_reaches_the_app_and_the_response_the_client(disconnect: Disconnect) -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-echo", b"1")]})
        await send({"type": "http.response.body", "body": body})

    for server in SERVERS:
        result = disconnect.run(echo, "POST", "/echo?x=1", body=[b"ab", b"cd"], after=1.0, server=server,
                                live="fin")
        assert (result.verdict, result.status, result.body) == ("finished", 201, b"abcd")


def test_live_mode_needs_a_real_server_profile(disconnect: Disconnect) -> None:
    with pytest.raises(LiveSetupError, match=r"server='asgi-2\.4' has no live server"):
        disconnect.run(never_looks, "GET", "/", server="asgi-2.4", live="fin")


def test_live_mode_runs_on_asyncio(disconnect: Disconnect) -> None:
    with pytest.raises(LiveSetupError, match="live mode runs on asyncio"):
        disconnect.run(never_looks, "GET", "/", live="fin", backend="trio")


def test_a_server_that_is_not_installed_is_a_clear_error(disconnect: Disconnect,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypercorn", None)  # import hypercorn now raises ImportError
    with pytest.raises(LiveSetupError, match=r"needs hypercorn installed: pip install 'pytest-disconnect\[live\]'"):
        disconnect.run(never_looks, "GET", "/", server="hypercorn", live="fin")


def test_no_port_or_thread_is_left_behind(disconnect: Disconnect, monkeypatch: pytest.MonkeyPatch) -> None:
    ports: list[int] = []
    original = LiveServer.__init__

    def remember(self: LiveServer, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        ports.append(self.port)

    monkeypatch.setattr(LiveServer, "__init__", remember)
    threads = {thread.ident for thread in threading.enumerate()}
    for server in SERVERS:
        disconnect.run(stops_when_told, "GET", "/", after=0.05, server=server, live="rst")
    assert len(ports) == 2
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    left = [thread for thread in threading.enumerate() if thread.ident not in threads and thread.is_alive()
            and not thread.name.startswith("pytest-disconnect watchdog")]
    assert left == []


def test_an_app_that_never_reads_a_large_body_is_judged_in_bounded_time(disconnect: Disconnect) -> None:
    async def ignores_the_body(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(20)

    for server in SERVERS:  # the client used to wait for the server to read it all, before the clock ran
        result = disconnect.run(ignores_the_body, "POST", "/", body=b"x" * (16 << 20), after=0.2,
                                tolerance=0.1, patience=0.5, server=server, live="fin", check=False)
        assert result.verdict == "cancelled"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_httpx_transport_through_a_real_server() -> None:
    import httpx

    from pytest_disconnect import DisconnectTransport

    for server in SERVERS:
        transport = DisconnectTransport(stops_when_told, server=server, live="rst")
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/", timeout=0.1)
        [result] = transport.results
        assert (result.verdict, result.settings.live, result.settings.server) == ("stopped", "rst", server)
