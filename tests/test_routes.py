"""Route discovery: Starlette and FastAPI tables (mounts, convertors), Litestar, OpenAPI-only apps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router, WebSocketRoute
from starlette.websockets import WebSocket

from pytest_disconnect._asgi.routes import Param, describe, list_routes, template
from pytest_disconnect._types import Message, Receive, Scope, Send

HERE = Path(__file__).resolve()


async def hello(request: Request) -> Response:
    return PlainTextResponse("hi")


async def ws(websocket: WebSocket) -> None:
    await websocket.close()


class Things(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        return PlainTextResponse("things")

    async def post(self, request: Request) -> Response:
        return PlainTextResponse("made")


def test_starlette_mounts_convertors_methods_and_handler_lines() -> None:
    inner = Router([Route("/items/{item_id:int}", hello), Route("/files/{rest:path}", hello, methods=["PUT"])])
    sub_app = Starlette(routes=[Route("/ping", hello)])
    app = Starlette(routes=[
        Route("/", hello),
        Route("/things", Things),
        WebSocketRoute("/ws", ws),
        Mount("/api", routes=[Mount("/v1", app=inner)]),
        Mount("/sub", app=sub_app),
        Mount("/users/{user_id:int}", routes=[Route("/posts/{slug}", hello)]),
    ], middleware=[Middleware(CORSMiddleware, allow_origins=["*"])])

    routes = list_routes(app)

    assert describe(routes) == ["GET /", "GET /things", "POST /things", "GET /api/v1/items/{item_id}",
                                "PUT /api/v1/files/{rest}", "GET /sub/ping", "GET /users/{user_id}/posts/{slug}"]
    assert routes[2].params == (Param("item_id", "path", convertor="int"),)
    assert routes[3].params == (Param("rest", "path", convertor="path"),)
    assert routes[5].params == (Param("user_id", "path", convertor="int"), Param("slug", "path", convertor="str"))
    assert routes[0].handler is hello and routes[0].source == "starlette"
    assert routes[0].where == f"{HERE}:{hello.__code__.co_firstlineno}"
    assert routes[1].where == f"{HERE}:{Things.get.__code__.co_firstlineno}"
    assert not routes[0].operations  # a plain Starlette app serves no schema


class Item(BaseModel):
    name: str
    quantity: int


def test_fastapi_routes_carry_their_openapi_operation() -> None:
    app = FastAPI()
    router_app = FastAPI()

    @app.get("/items/{item_id}")
    async def read(item_id: int, q: str | None = None) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @router_app.get("/inner/{slug}")
    async def inner(slug: str) -> str:
        return slug

    @app.get("/hidden", include_in_schema=False)
    async def hidden() -> str:
        return ""

    app.mount("/mounted", router_app)

    routes = list_routes(app)

    assert describe(routes) == ["GET /items/{item_id}", "POST /items", "GET /mounted/inner/{slug}"]
    read_route, create_route, inner_route = routes
    assert [(p.name, p.location, p.required, p.convertor) for p in read_route.params] == [
        ("item_id", "path", True, "str"), ("q", "query", False, None)]
    assert read_route.params[0].schema is not None and read_route.params[0].schema["type"] == "integer"
    body = create_route.operation("POST")
    assert body is not None and "requestBody" in body
    assert create_route.schema is not None and "Item" in create_route.schema["components"]["schemas"]
    # the mount's own schema, read at /mounted/openapi.json
    assert inner_route.params == (Param("slug", "path", convertor="str", schema={"type": "string", "title": "Slug"}),)
    assert inner_route.operation("GET") is not None
    assert [route.path for route in list_routes(app, include_hidden=True)][:4] == [
        "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"]
    assert list_routes(app, schema=False)[0].operations == {}


def test_fastapi_included_routers_are_listed_with_their_prefixes() -> None:
    """FastAPI 0.165 keeps include_router()'s routes in one lazy entry: they were missing from the list."""
    from fastapi import APIRouter

    inner, outer, app = APIRouter(), APIRouter(), FastAPI()

    @inner.get("/items/{item_id:int}")
    async def read(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    outer.include_router(inner, prefix="/v1")
    app.include_router(outer, prefix="/api")

    [route] = list_routes(app, schema=False)
    assert (route.path, route.methods, route.handler) == ("/api/v1/items/{item_id}", ("GET",), read)
    assert route.params == (Param("item_id", "path", convertor="int"),)
    assert describe(list_routes(app)) == ["GET /api/v1/items/{item_id}"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Litestar 2.2x deprecates the plain styles
def test_litestar_routes() -> None:
    litestar = pytest.importorskip("litestar")

    @litestar.get("/items/{item_id:int}")  # type: ignore[untyped-decorator]
    async def get_item(item_id: int, q: str | None = None) -> dict[str, int]:
        return {"id": item_id}

    @litestar.post("/items")  # type: ignore[untyped-decorator]
    async def make(data: dict[str, int]) -> dict[str, int]:
        return data

    app = litestar.Litestar([get_item, make, litestar.Router(path="/v1", route_handlers=[get_item])],
                          logging_config=None)  # see test_suite_hygiene.py

    routes = list_routes(app)

    assert describe(routes) == ["GET /items/{item_id}", "POST /items", "GET /v1/items/{item_id}"]
    first = routes[0]
    assert first.source == "litestar" and first.handler is get_item.fn
    assert [(p.name, p.location, p.convertor) for p in first.params] == [("item_id", "path", "int"),
                                                                        ("q", "query", None)]
    assert first.operation("GET") is not None  # Litestar serves /schema/openapi.json


SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "bare", "version": "1"},
    "paths": {
        "/reports/{year}": {
            "parameters": [{"name": "year", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {"operationId": "report",
                    "parameters": [{"name": "full", "in": "query", "schema": {"type": "boolean"}}]},
            "delete": {},
        },
        "/health": {"head": {}},
    },
}


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """No framework: answers /openapi.json and 404 to the rest."""
    assert scope["type"] == "http"
    found = scope["path"] == "/openapi.json"
    body = json.dumps(SCHEMA).encode() if found else b""
    start: Message = {"type": "http.response.start", "status": 200 if found else 404, "headers": []}
    await send(start)
    await send({"type": "http.response.body", "body": body})


def test_an_app_that_only_serves_openapi() -> None:
    routes = list_routes(bare_app)

    assert describe(routes) == ["DELETE /reports/{year}", "GET /reports/{year}", "HEAD /health"]
    report = routes[0]
    assert report.source == "openapi" and report.handler is None and report.where is None
    assert [(p.name, p.location, p.required) for p in report.params] == [("year", "path", True)]
    get = report.operation("GET")
    assert get is not None and get["operationId"] == "report"


async def not_an_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_an_app_nothing_can_read_is_named() -> None:
    with pytest.raises(TypeError, match=r"cannot list the routes of .*not_an_app.*serves no OpenAPI schema"):
        list_routes(not_an_app)


def test_template_drops_convertors() -> None:
    assert template("/items/{item_id:int}/{rest:path}") == "/items/{item_id}/{rest}"
