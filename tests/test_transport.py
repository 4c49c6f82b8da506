"""DisconnectTransport: httpx requests where a client that gives up is a disconnect, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pytest_disconnect import ClientLeft, DisconnectTransport, HandlerKeptRunning, NotAnASGIApp, SettingError
from pytest_disconnect._types import ASGIApp, Receive, Scope, Send

from .apps import WORK, ignores_disconnect, instant, never_ends, raises_at_once, well_behaved

pytestmark = pytest.mark.anyio


def quick(app: ASGIApp, after: float | None = None) -> DisconnectTransport:
    """A transport that judges fast: a small tolerance, and a short watch before cancelling."""
    return DisconnectTransport(app, after=after, tolerance=0.05, patience=0.2)


def client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _items(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["item_id"], "q": request.query_params.get("q"),
                         "body": (await request.body()).decode()}, headers={"x-app": "items"})


class _Gate:
    """A stream that sends one chunk, then waits for the test to open the gate."""

    def __init__(self) -> None:
        self.opened = anyio.Event()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await self.opened.wait()
        await send({"type": "http.response.body", "body": b"second"})


async def _endless(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"tick\n"
            await anyio.sleep(0.01)

    return StreamingResponse(chunks())


async def _no_response(scope: Scope, receive: Receive, send: Send) -> None:
    pass


items_app = Starlette(routes=[Route("/items/{item_id}", _items, methods=["GET", "POST"]),
                              Route("/endless", _endless)])


async def test_a_request_answers_as_through_asgi_transport() -> None:
    for path, kwargs in [("/items/7?q=a%20b", {}), ("/items/8", {"content": b"payload"})]:
        async with client(httpx.ASGITransport(app=items_app)) as plain:
            expected = await plain.request("POST", path, **kwargs)  # type: ignore[arg-type]
        transport = DisconnectTransport(items_app)
        async with client(transport) as ours:
            got = await ours.request("POST", path, **kwargs)  # type: ignore[arg-type]
        assert (got.status_code, got.headers, got.content) == (
            expected.status_code, expected.headers, expected.content)
        [result] = transport.results
        assert (result.verdict, result.endpoint) == ("finished", "POST /items/{item_id}")


async def test_a_client_timeout_reaches_a_well_behaved_app_as_a_disconnect() -> None:
    # Generous bounds: a busy machine can hold the loop up past a tight tolerance or the timeout's
    # moment; the client still leaves at its timeout, well before the app's work would end.
    transport = DisconnectTransport(well_behaved, tolerance=0.5, patience=2.0)
    async with client(transport) as ours:
        with pytest.raises(httpx.ReadTimeout):
            await ours.get("/work", timeout=0.2)
    [result] = transport.results
    assert result.verdict == "stopped"
    assert result.disconnected_at is not None and 0.19 <= result.disconnected_at < WORK - 0.2
    assert "left (the client gave up: its read timeout (0.2 s) expired)" in result.timeline.texts()
    assert result.receives_after_disconnect >= 1  # it learned through receive(), not a cancellation


async def test_a_client_timeout_fails_a_handler_that_ignores_it() -> None:
    transport = quick(ignores_disconnect)
    async with client(transport) as ours:
        with pytest.raises(HandlerKeptRunning) as caught:
            await ours.get("/work", timeout=0.2)
    assert caught.value.result.verdict == "cancelled"
    assert caught.value.result.work[0].outcome == "cancelled by the harness"


async def test_cancelling_the_caller_is_a_disconnect_not_a_cancellation_of_the_app() -> None:
    transport = quick(well_behaved)
    async with client(transport) as ours:
        with anyio.move_on_after(0.2) as scope:
            await ours.get("/work")
    assert scope.cancelled_caught
    [result] = transport.results
    assert result.verdict == "stopped"
    assert "left (the client gave up: its task was cancelled)" in result.timeline.texts()


async def test_asgi_transport_cancels_the_app_directly_where_we_fail_it() -> None:
    """The difference the transport exists for: httpx's own cancels a broken handler, which looks fine."""
    seen: list[str] = []

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep(WORK)
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled directly")
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    async with client(httpx.ASGITransport(app=broken)) as plain:
        with anyio.move_on_after(0.1):
            await plain.get("/")
    assert seen == ["cancelled directly"]  # stopped 'in time', though it never saw a disconnect

    seen.clear()
    async with client(quick(broken)) as ours:
        with pytest.raises(HandlerKeptRunning) as caught, anyio.move_on_after(0.1):
            await ours.get("/")
    assert seen == ["cancelled directly"]  # by the harness, after the watch limit: a failure
    assert caught.value.result.verdict == "cancelled"


async def test_a_streamed_response_is_handed_over_as_it_is_sent() -> None:
    gate = _Gate()
    async with client(DisconnectTransport(gate.app)) as ours, ours.stream("GET", "/") as response:
        parts = response.aiter_raw()
        with anyio.fail_after(5):  # a buffering transport would wait for the gate forever
            assert await parts.__anext__() == b"first"
        gate.opened.set()
        assert [part async for part in parts] == [b"second"]


async def test_closing_a_stream_early_is_a_disconnect() -> None:
    transport = quick(items_app)
    async with client(transport) as ours, ours.stream("GET", "/endless") as response:
        assert response.status_code == 200
    [result] = transport.results
    assert result.verdict == "stopped"  # Starlette's listen_for_disconnect, spec 2.3
    assert "left (the client gave up: it closed the response before its end)" in result.timeline.texts()


async def test_a_planned_disconnect_leaves_the_test_without_a_response() -> None:
    transport = quick(well_behaved, after=0.1)
    async with client(transport) as ours:
        with pytest.raises(ClientLeft) as caught:
            await ours.get("/work")
        assert caught.value.result.verdict == "stopped"
        assert "the client left at 0.10 s (DisconnectTransport() argument)" in str(caught.value)
    fast = DisconnectTransport(instant, after=0.1)
    async with client(fast) as ours:
        assert (await ours.get("/")).text == "hello"  # it answered before 0.1 s: nothing to check
    assert [result.verdict for result in (*transport.results, *fast.results)] == ["stopped", "finished"]


async def test_app_errors_and_missing_responses_reach_the_client_as_with_asgi_transport() -> None:
    async with client(DisconnectTransport(raises_at_once)) as ours:
        with pytest.raises(ValueError, match="bad handler") as caught:
            await ours.get("/")
    assert not getattr(caught.value, "__notes__", None)  # no disconnect was planned: nothing to add
    async with client(DisconnectTransport(_no_response)) as ours:
        with pytest.raises(AssertionError, match="without sending a response"):  # ASGITransport: a bare assert
            await ours.get("/")
    async with client(DisconnectTransport(_no_response, raise_app_exceptions=False)) as ours:
        assert (await ours.get("/")).status_code == 500  # as TestClient (and uvicorn) answer


async def test_concurrent_requests_each_get_their_own_verdict() -> None:
    transport = DisconnectTransport(items_app)
    statuses: list[int] = []
    async with client(transport) as ours, anyio.create_task_group() as group:
        for item in range(3):
            async def fetch(item: int = item) -> None:
                statuses.append((await ours.get(f"/items/{item}")).status_code)

            group.start_soon(fetch)
    assert statuses == [200, 200, 200]
    assert [result.verdict for result in transport.results] == ["finished"] * 3


async def test_closing_the_client_leaves_for_responses_still_open() -> None:
    transport = quick(items_app)
    ours = client(transport)
    response = await ours.send(ours.build_request("GET", "/endless"), stream=True)
    assert response.status_code == 200
    assert transport.results == []
    await ours.aclose()
    [result] = transport.results
    assert result.verdict == "stopped"
    assert "left (the client gave up: the client was closed)" in result.timeline.texts()


async def test_a_handler_that_never_ends_fails_when_the_caller_gives_up() -> None:
    async with client(quick(never_ends)) as ours:
        with pytest.raises(HandlerKeptRunning), anyio.move_on_after(0.1):
            await ours.get("/")


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(NotAnASGIApp, match="not callable"):
        DisconnectTransport("app")  # type: ignore[arg-type]
    with pytest.raises(SettingError, match=r"invalid tolerance -1 in DisconnectTransport\(\)"):
        DisconnectTransport(instant, tolerance=-1)


async def test_work_that_never_ends_after_the_response_fails_in_bounded_time() -> None:
    async def answers_then_works_forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        await anyio.sleep_forever()  # a BackgroundTask that never ends, say

    async with client(quick(answers_then_works_forever)) as ours:
        with anyio.fail_after(10), pytest.raises(HandlerKeptRunning) as caught:
            await ours.get("/")  # no timeout needed: the client has its answer
    assert caught.value.result.verdict == "not-disconnected"


async def test_closing_the_client_while_another_task_reads_ends_both() -> None:
    transport = quick(items_app)
    ours = client(transport)
    response = await ours.send(ours.build_request("GET", "/endless"), stream=True)
    outcome: list[str] = []

    async def read() -> None:
        try:
            async for _ in response.aiter_raw():
                pass
        except httpx.StreamClosed:
            outcome.append("stream closed")  # not ClientLeft: no disconnect was planned

    with anyio.fail_after(10):  # one wake-up slot shared by two waiters used to hang here
        async with anyio.create_task_group() as group:
            group.start_soon(read)
            await anyio.sleep(0.05)
            await ours.aclose()
    assert outcome == ["stream closed"]
    assert [result.verdict for result in transport.results] == ["stopped"]
