"""Endless streams and slow views built on the libraries users stream with.

Each app streams a tick every TICK seconds until the client leaves (or works WORK seconds
before answering), the way that library's documentation writes it. tests/test_library_agreement.py
runs each in process and behind uvicorn and hypercorn and checks the verdicts agree;
docs/frameworks.md says what each library stops on disconnect.
"""

# No `from __future__ import annotations`: FastAPI and Litestar read the handlers' annotations,
# which name classes imported inside the builders.
import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from pytest_disconnect._types import ASGIApp

TICK = 0.05
#: How long a view that never looks at the client works before answering, seconds.
WORK = 1.0


async def ticks() -> AsyncIterator[str]:
    number = 0
    while True:
        number += 1
        yield f"tick {number}\n"
        await asyncio.sleep(TICK)


def blocking_ticks() -> Iterator[str]:
    number = 0
    while True:
        number += 1
        yield f"tick {number}\n"
        time.sleep(TICK)  # a sync generator: Starlette runs each step in a worker thread


def sse_starlette_app() -> ASGIApp:
    from sse_starlette import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    async def events(request: Request) -> EventSourceResponse:
        async def stream() -> AsyncIterator[dict[str, str]]:
            async for tick in ticks():
                yield {"data": tick.strip()}

        return EventSourceResponse(stream())

    return Starlette(routes=[Route("/events", events)])


def fastapi_app() -> ASGIApp:
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.get("/async")
    async def async_stream() -> StreamingResponse:
        return StreamingResponse(ticks(), media_type="text/plain")

    @app.get("/sync")
    async def sync_stream() -> StreamingResponse:
        return StreamingResponse(blocking_ticks(), media_type="text/plain")

    return app


def litestar_app() -> ASGIApp:
    from litestar import Litestar, get
    from litestar.response import Stream

    @get("/stream", sync_to_thread=False)
    def stream() -> Stream:
        return Stream(ticks(), media_type="text/plain")

    return cast(ASGIApp, Litestar(route_handlers=[stream], logging_config=None))  # see test_suite_hygiene.py


def django_app() -> ASGIApp:
    """Django's ASGI handler; settings made here, once per process, with the views' URLconf."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="pytest-disconnect tests", ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__, MIDDLEWARE=[], INSTALLED_APPS=[], DATABASES={},
            USE_TZ=True, LOGGING_CONFIG=None,
        )
        django.setup(set_prefix=False)
    from django.core.handlers.asgi import ASGIHandler

    return cast(ASGIApp, ASGIHandler())


async def django_slow_view(request: Any) -> Any:
    from django.http import HttpResponse

    await asyncio.sleep(WORK)  # never looks at the client: Django >= 5 cancels it
    return HttpResponse("done")


async def django_stream_view(request: Any) -> Any:
    from django.http import StreamingHttpResponse

    return StreamingHttpResponse(ticks(), content_type="text/plain")


def django_sync_view(request: Any) -> Any:
    from django.http import HttpResponse

    time.sleep(WORK)  # a def view runs in a thread: nothing stops it
    return HttpResponse("done")


def __getattr__(name: str) -> Any:
    """This module is Django's URLconf too: its ``urlpatterns`` are built when Django asks."""
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.urls import path

    return [path("async", django_slow_view), path("stream", django_stream_view), path("sync", django_sync_view)]


@dataclass(frozen=True)
class LibraryCase:
    """One endpoint, what it does on disconnect, and the verdict a real server shows."""

    library: str
    name: str
    build: Any  # () -> ASGIApp, called once the library is known to be installed
    path: str
    expected: str
    options: dict[str, Any] = field(default_factory=dict)
    #: The import name that must be installed.
    module: str = ""

    @property
    def title(self) -> str:
        return f"{self.library} {self.name}"


STREAM = {"after": 0.2, "tolerance": 0.3, "patience": 1.5}
CASES = (
    LibraryCase("sse-starlette", "EventSourceResponse", sse_starlette_app, "/events", "stopped", STREAM,
                "sse_starlette"),
    LibraryCase("FastAPI", "StreamingResponse async gen", fastapi_app, "/async", "stopped", STREAM, "fastapi"),
    LibraryCase("FastAPI", "StreamingResponse sync gen", fastapi_app, "/sync", "stopped", STREAM, "fastapi"),
    LibraryCase("Litestar", "Stream", litestar_app, "/stream", "stopped", STREAM, "litestar"),
    LibraryCase("Django", "async view", django_app, "/async", "stopped", STREAM, "django"),
    LibraryCase("Django", "StreamingHttpResponse", django_app, "/stream", "stopped", STREAM, "django"),
    LibraryCase("Django", "def view", django_app, "/sync", "kept-running", STREAM, "django"),
)
