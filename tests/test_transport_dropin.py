"""DisconnectTransport as a drop-in for httpx's and httpx2's ASGITransport: their arguments, and
every client of both libraries, sync and async."""

from __future__ import annotations

from types import ModuleType

import anyio
import httpx
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from pytest_disconnect import ClientLeft, DisconnectTransport, HandlerKeptRunning

from .apps import ignores_disconnect

LIBRARIES = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]


async def _hello(request: Request) -> Response:
    client = request.client
    return PlainTextResponse(f"hello root_path={request.scope['root_path']!r} "
                             f"client={client.host if client else None}:{client.port if client else None}")


async def _boom(request: Request) -> Response:
    raise ValueError("boom")


async def _io_error(request: Request) -> Response:
    raise OSError(5, "disk on fire")  # an app error like any other: no client ever left


async def _stream(request: Request) -> Response:
    async def lines() -> object:
        for n in range(3):
            yield f"{n}\n"
            await anyio.sleep(0.01)

    return StreamingResponse(lines())  # type: ignore[arg-type]


async def _slow(request: Request) -> Response:
    async with anyio.create_task_group() as group:  # stops when the client leaves
        async def watch() -> None:
            while not await request.is_disconnected():
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await anyio.sleep(0.5)
    return PlainTextResponse("slow")


app = Starlette(routes=[Route("/hello", _hello), Route("/boom", _boom), Route("/stream", _stream),
                        Route("/slow", _slow), Route("/io-error", _io_error)])


@pytest.mark.parametrize("library", LIBRARIES)
def test_sync_clients_get_answers_streams_and_heads(library: ModuleType) -> None:
    transport = DisconnectTransport(app, client=("1.2.3.4", 5))
    with library.Client(transport=transport, base_url="http://testserver") as client:
        assert client.get("/hello").text == "hello root_path='' client=1.2.3.4:5"
        with client.stream("GET", "/stream") as response:
            assert list(response.iter_lines()) == ["0", "1", "2"]
        assert client.head("/hello").content == b""  # as ASGITransport: no body for HEAD
    assert [result.verdict for result in transport.results] == ["finished"] * 3


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_sync_client_outside_with_gets_a_loop_per_request(library: ModuleType) -> None:
    client = library.Client(transport=DisconnectTransport(app), base_url="http://testserver")
    assert client.get("/hello").status_code == 200
    assert client.get("/hello").status_code == 200


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_sync_client_sees_its_client_leave(library: ModuleType) -> None:
    planned = library.Client(transport=DisconnectTransport(app, after=0.05), base_url="http://testserver")
    with pytest.raises(ClientLeft) as caught:
        planned.get("/slow")
    assert caught.value.result.verdict == "stopped" and caught.value.result.looked
    timed = library.Client(transport=DisconnectTransport(app), base_url="http://testserver")
    with pytest.raises(library.ReadTimeout):
        timed.get("/slow", timeout=0.05)
    careless = library.Client(transport=DisconnectTransport(ignores_disconnect, after=0.05, tolerance=0.05,
                                                            patience=0.2), base_url="http://testserver")
    with pytest.raises(HandlerKeptRunning):
        careless.get("/")


@pytest.mark.parametrize("library", LIBRARIES)
def test_raise_app_exceptions_as_asgi_transport(library: ModuleType) -> None:
    with library.Client(transport=DisconnectTransport(app), base_url="http://testserver") as client, \
            pytest.raises(ValueError, match="boom"):
        client.get("/boom")
    quiet = DisconnectTransport(app, raise_app_exceptions=False)
    with library.Client(transport=quiet, base_url="http://testserver") as client:
        response = client.get("/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


@pytest.mark.parametrize("library", LIBRARIES)
def test_an_oserror_of_the_app_is_raised_when_no_client_left(library: ModuleType) -> None:
    # OSError is how an app stops for a client that left (send() raises it); with no client
    # gone it is the app's own error, raised as ASGITransport raises it (FastAPI's suite checks it).
    with library.Client(transport=DisconnectTransport(app), base_url="http://testserver") as client, \
            pytest.raises(OSError, match="disk on fire"):
        client.get("/io-error")


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_async_clients_take_the_asgi_transport_arguments(library: ModuleType) -> None:
    for transport_type in (library.ASGITransport, DisconnectTransport):
        # Positional, in ASGITransport's order: app, raise_app_exceptions, root_path, client.
        transport = transport_type(app, False, "/api", ("1.2.3.4", 5))
        async with library.AsyncClient(transport=transport, base_url="http://testserver") as client:
            hello = await client.get("/api/hello")
            boom = await client.get("/api/boom")
        assert hello.text == "hello root_path='/api' client=1.2.3.4:5", transport_type
        assert boom.status_code == 500, transport_type


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_async_clients_see_their_client_leave(library: ModuleType) -> None:
    async with library.AsyncClient(transport=DisconnectTransport(app), base_url="http://testserver") as client:
        with pytest.raises(library.ReadTimeout):
            await client.get("/slow", timeout=0.05)
        async with client.stream("GET", "/stream") as response:
            assert [line async for line in response.aiter_lines()] == ["0", "1", "2"]


def test_a_client_it_cannot_serve_is_told_the_fix() -> None:
    transport = DisconnectTransport(app)
    with pytest.raises(TypeError, match=r"serves httpx and httpx2 clients \(httpx.AsyncClient, httpx.Client, "
                                        r"httpx2.AsyncClient or httpx2.Client\), not a builtins.object"):
        transport.handle_request(object())  # type: ignore[arg-type]


def test_a_bad_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be 'asyncio' or 'trio'"):
        DisconnectTransport(app, backend="curio")
