"""A FastAPI app whose handlers use what its lifespan made: an HTTP client and a cache.

The lifespan opens an ``httpx.AsyncClient`` (to a stand-in upstream served in-process)
and a small cache, and yields them as state; handlers read ``request.state.upstream``
and ``request.state.cache``. Without the lifespan, every handler fails with
``'State' object has no attribute 'upstream'`` before doing any of its work.

``/careless`` fetches from the upstream and ignores the client leaving; ``/careful``
does the same work inside ``cancel_on_disconnect()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import anyio
import httpx
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send


async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """The slow service the catalog depends on: 2 s per answer."""
    await anyio.sleep(2)
    await JSONResponse({"price": 42})(scope, receive, send)


class State(TypedDict):
    upstream: httpx.AsyncClient
    cache: dict[str, int]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    transport = httpx.ASGITransport(app=upstream)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
        yield {"upstream": client, "cache": {}}


app = FastAPI(lifespan=lifespan)


@asynccontextmanager
async def cancel_on_disconnect(request: Request) -> AsyncIterator[anyio.CancelScope]:
    """Cancel the ``async with`` body as soon as the client disconnects (see examples/app.py)."""
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        yield group.cancel_scope
        group.cancel_scope.cancel()


async def price(request: Request, sku: str) -> int:
    cache: dict[str, int] = request.state.cache
    if sku not in cache:
        answer = await request.state.upstream.get(f"/price/{sku}")
        cache[sku] = answer.json()["price"]
    return cache[sku]


@app.get("/careless/{sku}")
async def careless(request: Request, sku: str) -> dict[str, int]:
    return {"price": await price(request, sku)}


@app.get("/careful/{sku}")
async def careful(request: Request, sku: str) -> dict[str, int] | None:
    async with cancel_on_disconnect(request):
        return {"price": await price(request, sku)}
    return None  # the client left: nobody is waiting
