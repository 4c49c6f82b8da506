"""A small library service in FastAPI's documented style: a lifespan that opens the catalogue,
handlers that read it from ``request.state``, and tests through ``fastapi.testclient.TestClient``.

/books and /books/{book_id} answer at once. /search takes 1.5 s and stops when the client
leaves; /stats takes 1.5 s and does not; /recommendations takes 0.3 s and never looks at
the disconnect. Its tests, in test_library.py, are unmodified TestClient tests and pass;
``pytest --disconnect-audit --disconnect-after=0.1`` audits them (see examples/README.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import anyio
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

SLOW_QUERY = 1.5  # seconds: stands in for a full-text search or an aggregate over every loan
QUICK_QUERY = 0.3  # seconds: shorter than the default tolerance (1 s)


class Book(BaseModel):
    id: int
    title: str


class State(TypedDict):
    catalogue: dict[int, Book]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    # Opened once at start-up, as a database pool would be; handlers find it on request.state.
    yield {"catalogue": {1: Book(id=1, title="Dubliners"), 2: Book(id=2, title="Ulysses")}}


app = FastAPI(title="library", lifespan=lifespan)


@app.get("/books")
async def list_books(request: Request) -> list[Book]:
    return list(request.state.catalogue.values())


@app.get("/books/{book_id}")
async def get_book(book_id: int, request: Request) -> Book:
    book: Book | None = request.state.catalogue.get(book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="no such book")
    return book


@app.get("/search")
async def search(q: str, request: Request) -> list[Book]:
    """Careful: the query is cancelled as soon as the client leaves."""
    found: list[Book] = []
    async with anyio.create_task_group() as group:
        async def give_up_when_the_client_leaves() -> None:
            while not await request.is_disconnected():
                await anyio.sleep(0.05)
            group.cancel_scope.cancel()

        group.start_soon(give_up_when_the_client_leaves)
        await anyio.sleep(SLOW_QUERY)  # the search
        found = [book for book in request.state.catalogue.values() if q.lower() in book.title.lower()]
        group.cancel_scope.cancel()
    return found


@app.get("/stats")
async def stats(request: Request) -> dict[str, int]:
    """Careless: the aggregate runs to its end for a client that left long ago."""
    await anyio.sleep(SLOW_QUERY)
    return {"books": len(request.state.catalogue), "loans": 42}


@app.get("/recommendations")
async def recommendations(request: Request) -> list[Book]:
    """Never looks at the disconnect, but its work is short: the audit cannot tell if it would stop."""
    await anyio.sleep(QUICK_QUERY)
    return list(request.state.catalogue.values())[:1]
