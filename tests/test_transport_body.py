"""DisconnectTransport reads a streamed request body as the app asks, as httpx's ASGITransport does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from pytest_disconnect import DisconnectTransport
from pytest_disconnect._types import ASGIApp, Message, Receive, Scope, Send

from .apps import respond

pytestmark = pytest.mark.anyio

LIMIT = 5


class Upload:
    """A client's body stream that records what was taken from it."""

    def __init__(self, *chunks: bytes, then_wait: bool = False) -> None:
        self.chunks = chunks
        self.then_wait = then_wait
        self.consumed: list[bytes] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.consumed.append(chunk)
            yield chunk
        if self.then_wait:
            await anyio.sleep_forever()  # the rest of the upload never comes


async def limited(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body until it passes LIMIT bytes, then answers 413 without reading the rest."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if size > LIMIT:
            await respond(send, b"too large", status=413)
            return
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await respond(send)


def client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# The unread stream's generators are left unfinished, as under ASGITransport: trio says so when they are collected.
@pytest.mark.filterwarnings("ignore:Async generator .* was garbage collected:ResourceWarning")
async def test_an_app_that_stops_reading_leaves_the_rest_of_the_stream_unread() -> None:
    upload = Upload(b"123", b"456", b"unread")
    transport = DisconnectTransport(limited)
    async with client(transport) as http:
        response = await http.post("/", content=upload)
        assert response.status_code == 413
        assert upload.consumed == [b"123", b"456"]
        assert (await http.post("/", content=Upload(b"ok"))).status_code == 200
    assert [result.verdict for result in transport.results] == ["finished", "finished"]


async def test_the_app_gets_the_messages_asgi_transport_gives() -> None:
    seen: dict[str, list[Message]] = {}

    def recording(name: str) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            messages = seen.setdefault(name, [])
            while not messages or messages[-1].get("more_body"):
                messages.append(await receive())
            await respond(send)
        return app

    transports: tuple[httpx.AsyncBaseTransport, ...] = (
        DisconnectTransport(recording("ours")), httpx.ASGITransport(recording("asgi")))
    for transport in transports:
        async with client(transport) as http:
            assert (await http.post("/", content=Upload(b"a", b"", b"bc"))).text == "ok"
    assert seen["ours"] == seen["asgi"]
    assert [message.get("body") for message in seen["ours"]] == [b"a", b"", b"bc", b""]


@pytest.mark.filterwarnings("ignore:Async generator .* was garbage collected:ResourceWarning")
async def test_a_client_that_gives_up_mid_upload_reaches_the_waiting_app_as_a_disconnect() -> None:
    received: list[str] = []

    async def reads_all(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "http.disconnect":
                return

    transport = DisconnectTransport(reads_all, tolerance=0.05, patience=0.2)
    async with client(transport) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/", content=Upload(b"part", then_wait=True), timeout=0.2)
    [result] = transport.results
    assert received == ["http.request", "http.disconnect"]
    assert result.verdict == "stopped"
    assert result.receives_after_disconnect == 1


async def test_a_body_given_as_bytes_is_read_whole_as_before() -> None:
    upload_messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        upload_messages.append(await receive())
        await respond(send)

    transport = DisconnectTransport(app)
    async with client(transport) as http:
        await http.post("/", content=b"whole")
    assert upload_messages == [{"type": "http.request", "body": b"whole", "more_body": False}]
