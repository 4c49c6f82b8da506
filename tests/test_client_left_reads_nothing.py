"""A client that left reads nothing: once the planned moment has passed, no part of a response
the app sent afterwards reaches it, even when a blocked event loop told the app late."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from pytest_disconnect import ClientLeft, DisconnectTransport
from pytest_disconnect._types import Receive, Scope, Send

pytestmark = pytest.mark.anyio


async def blocks_then_answers(scope: Scope, receive: Receive, send: Send) -> None:
    time.sleep(0.3)  # blocks the event loop past the planned moment
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"too late"})


async def blocks_then_yields_then_answers(scope: Scope, receive: Receive, send: Send) -> None:
    time.sleep(0.3)
    await anyio.sleep(0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"too late"})


async def answers_then_blocks_mid_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"early ", "more_body": True})
    time.sleep(0.3)
    await send({"type": "http.response.body", "body": b"too late"})


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # a real block: the virtual clock is no help here
@pytest.mark.parametrize("app", [blocks_then_answers, blocks_then_yields_then_answers])
async def test_a_response_sent_after_the_moment_never_reaches_the_client(app: object) -> None:
    transport = DisconnectTransport(app, after=0.05)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(ClientLeft) as caught:
            await client.get("/")
    result = caught.value.result
    assert result.disconnected_at == pytest.approx(0.05)
    assert result.status == 200  # the app did answer, to nobody
    assert result.delivered_at is None or result.delivered_at >= 0.3  # when the app could first know


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_body_sent_after_the_moment_never_reaches_the_client(anyio_backend: str) -> None:
    transport = DisconnectTransport(answers_then_blocks_mid_body, after=0.05)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client, \
            client.stream("GET", "/") as response:
        assert response.status_code == 200
        parts = response.aiter_raw()
        assert await parts.__anext__() == b"early "
        with pytest.raises(ClientLeft):
            await parts.__anext__()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_client_timeout_comes_first_when_it_is_shorter(anyio_backend: str) -> None:
    transport = DisconnectTransport(blocks_then_answers, after=0.2)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/", timeout=0.05)
