"""Apps with a lifespan: state their handlers read, work their startup starts, and failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import anyio
import httpx
from fastapi import FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from pytest_disconnect._types import Receive, Scope, Send
from tests.apps import cancel_on_disconnect

WORK = 1.0


class State(TypedDict):
    client: httpx.AsyncClient
    lock: anyio.Lock
    greeting: str


def make_app(events: list[str]) -> FastAPI:
    """A FastAPI app whose lifespan makes an httpx client and a lock, and runs a poller task."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        events.append("startup")
        async with httpx.AsyncClient() as client, anyio.create_task_group() as group:
            async def poll() -> None:  # app-lifetime work: never a request's
                while True:
                    await anyio.sleep(0.05)

            group.start_soon(poll)
            yield {"client": client, "lock": anyio.Lock(), "greeting": "hello"}
            group.cancel_scope.cancel()
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/careless")
    async def careless(request: Request) -> dict[str, str]:
        async with request.state.lock:  # made on the lifespan's loop: usable only there
            await anyio.sleep(WORK)
        return {"greeting": request.state.greeting}

    @app.get("/careful")
    async def careful(request: Request) -> dict[str, str]:
        async with request.state.lock:
            await cancel_on_disconnect(request.receive, lambda: anyio.sleep(WORK))
        return {"greeting": request.state.greeting}

    @app.get("/count")
    async def count(request: Request) -> dict[str, int]:
        request.state.seen = getattr(request.state, "seen", 0) + 1  # a copy per request: never grows
        return {"seen": request.state.seen}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        raise HTTPException(status_code=404, detail="no such item")

    return app


def failing_startup_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise ConnectionError("database unreachable")
        yield

    return FastAPI(lifespan=lifespan, title="Shop")


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")  # async: a sync endpoint's thread would race trio's MockClock


def failing_shutdown_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        raise RuntimeError("pool would not close")

    return Starlette(lifespan=lifespan, routes=[Route("/", ok)])


def mounted_app() -> Starlette:
    api = Starlette(routes=[Route("/users", ok, methods=["GET", "POST"])])
    return Starlette(routes=[Route("/", ok), Mount("/api", app=api)])


async def raises_on_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Says 'lifespan' (so auto mode asks it) but only serves HTTP."""
    if scope["type"] == "lifespan":
        raise ValueError("only HTTP here")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
