"""Route discovery: which requests an ASGI app answers, read from its routing table or its OpenAPI schema.

``list_routes(app)`` gives one ``Route`` per path template with the HTTP methods,
the path parameters (with Starlette's convertor or Litestar's type), the handler
and where it is defined, and the OpenAPI operation when the app serves a schema.

Sources, in order: Starlette and FastAPI routing tables (mounted sub-apps
included, their prefix joined), Litestar's route list, and for any app the
OpenAPI document it serves, fetched in-process through the ASGI app itself (so
an app built with anything that publishes a schema can be listed). Routes of a
routing table get their operation from the schema when both name the same
method and template.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, final

from .._compat import is_starlette_router
from .._types import ASGIApp, Message, Scope

ParamLocation = Literal["path", "query", "header", "cookie"]

#: Methods a router answers on its own (HEAD for every GET, OPTIONS for CORS): not the app's routes.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})

#: Where apps commonly serve their schema, tried when the routing table does not say.
SCHEMA_PATHS = ("/openapi.json", "/schema/openapi.json", "/docs/openapi.json", "/api/openapi.json")

_BRACES = re.compile(r"{([^{}:]+)(?::([^{}]*))?}")
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@final
@dataclass(frozen=True)
class Param:
    """One parameter of a route: where it goes, what it must look like."""

    name: str
    location: ParamLocation
    required: bool = True
    #: Starlette's convertor name ('int', 'str', 'path', 'float', 'uuid') or Litestar's type name.
    convertor: str | None = None
    #: JSON Schema of the value, from the OpenAPI operation (refs unresolved).
    schema: Mapping[str, Any] | None = None


@final
@dataclass(frozen=True)
class Route:
    """One path template of an app and the methods it answers."""

    path: str
    """The template, mount prefixes joined, parameters as ``{name}``: '/items/{item_id}'."""
    methods: tuple[str, ...]
    """Upper case, sorted; HEAD and OPTIONS left out when the router adds them itself."""
    params: tuple[Param, ...] = ()
    handler: Callable[..., object] | None = field(default=None, compare=False, repr=False)
    #: The handler's source file and first line (decorators included), for annotations.
    file: str | None = None
    line: int | None = None
    #: OpenAPI operation object per method, when the app serves a schema that lists this route.
    operations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    #: The whole OpenAPI document the operations come from (for resolving $ref), or None.
    schema: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    #: Where the route was found: 'starlette', 'litestar' or 'openapi'.
    source: str = "starlette"
    name: str | None = None
    #: Left out of the app's schema (``include_in_schema=False``) or served by the framework itself
    #: (FastAPI's /docs, Litestar's /schema pages): listed only with ``list_routes(include_hidden=True)``.
    hidden: bool = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        """'GET /items/{item_id}' for each method."""
        return tuple(f"{method} {self.path}" for method in self.methods)

    @property
    def where(self) -> str | None:
        """'app.py:42', or None when the handler's source is unknown."""
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def operation(self, method: str) -> Mapping[str, Any] | None:
        return self.operations.get(method.upper())

    def path_params(self) -> tuple[Param, ...]:
        return tuple(param for param in self.params if param.location == "path")


#: The headers to send with a request for the schema at a path (a login the schema is behind).
SchemaHeaders = Callable[[str], Sequence[tuple[str, str]]]


def list_routes(app: object, *, schema: bool = True, include_hidden: bool = False,
                headers: SchemaHeaders | None = None) -> list[Route]:
    """Every HTTP route of ``app``, in the order its router tries them.

    ``schema=False`` skips fetching the OpenAPI document (no request reaches the
    app). Hidden routes (the framework's own docs pages, routes left out of the
    schema) only with ``include_hidden=True``. Raises TypeError for an object none
    of the sources can read. ``headers`` gives what to send with each schema request.
    """
    return [route for route in _all_routes(app, schema, headers or _no_headers)
            if include_hidden or not route.hidden]


def _no_headers(path: str) -> Sequence[tuple[str, str]]:
    return ()


def _all_routes(app: object, schema: bool, headers: SchemaHeaders) -> list[Route]:
    table = _routing_table(app)
    document = _fetch_schema(app, table, headers) if schema else None
    if table is None:
        if document is None:
            raise TypeError(
                f"cannot list the routes of {_name(app)}: it is not a "
                "Starlette, FastAPI or Litestar app and serves no OpenAPI schema at "
                + ", ".join(SCHEMA_PATHS))
        return _openapi_routes(document)
    if document is not None:
        table = _attach_operations(table, document)
    return _attach_mounted(app, table, headers) if schema else table


def _name(app: object) -> str:
    named = app if callable(app) and hasattr(app, "__qualname__") else type(app)
    return f"{getattr(named, '__module__', '?')}.{getattr(named, '__qualname__', '?')}"


def describe(routes: Sequence[Route]) -> list[str]:
    """'GET /items/{item_id}' per method and route, for messages naming what an app answers."""
    return [endpoint for route in routes for endpoint in route.endpoints]


def template(path: str) -> str:
    """'/items/{item_id:int}' -> '/items/{item_id}': the form OpenAPI and reports use."""
    return _BRACES.sub(lambda match: "{" + match.group(1).strip() + "}", path)


# --- routing tables ---------------------------------------------------------------------------------

def _routing_table(app: object) -> list[Route] | None:
    for layer in _layers(app):
        router = getattr(layer, "router", None)
        if is_starlette_router(layer):
            return list(_starlette_routes(layer, ""))
        if router is not None and is_starlette_router(router):
            return list(_starlette_routes(router, ""))
        if type(layer).__module__.split(".", 1)[0] == "litestar":
            return _litestar_routes(layer)
    return None


def _layers(app: object) -> Iterator[object]:
    """The app, then what middleware wraps (``.app``), innermost last."""
    seen: set[int] = set()
    layer: object = app
    while layer is not None and id(layer) not in seen and len(seen) < 32:
        seen.add(id(layer))
        yield layer
        layer = getattr(layer, "app", None)


def _starlette_routes(router: object, prefix: str, outer: tuple[Param, ...] = ()) -> Iterator[Route]:
    """``outer``: the path parameters of the mounts above ('/users/{user_id:int}' mounting a router)."""
    from starlette.routing import Host, Mount
    from starlette.routing import Route as StarletteRoute

    for entry in getattr(router, "routes", ()):
        included = _fastapi_included(entry)
        if included is not None:
            for found, path_format in included:
                route = replace(_starlette_route(found, prefix), path=prefix + path_format)
                yield replace(route, params=outer + route.params) if outer else route
        elif isinstance(entry, StarletteRoute):
            route = _starlette_route(entry, prefix)
            yield replace(route, params=outer + route.params) if outer else route
        elif isinstance(entry, Mount):
            inner = entry.routes  # [] when the mounted app has no routing table of its own
            mount_prefix = prefix + template(entry.path)  # path_format ends in its own '/{path}'
            params = outer + tuple(param for param in _convertor_params(entry) if param.name != "path")
            if inner:
                yield from _starlette_routes(entry, mount_prefix, params)
            else:
                for layer in _layers(entry.app):
                    sub = getattr(layer, "router", layer)
                    if is_starlette_router(sub):
                        yield from _starlette_routes(sub, mount_prefix, params)
                        break
        elif isinstance(entry, Host):
            yield from _starlette_routes(entry, prefix, outer)
        # WebSocketRoute and anything else: not HTTP requests, not ours to sweep.


def _fastapi_included(entry: object) -> list[tuple[Any, str]] | None:
    """The routes of a FastAPI ``include_router()``, with their full path templates; None for other entries.

    FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry and resolves its routes
    (prefixes joined) lazily; ``fastapi.routing.iter_route_contexts`` is its public way to walk them.
    """
    if type(entry).__name__ != "_IncludedRouter" or not type(entry).__module__.startswith("fastapi."):
        return None
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Route as StarletteRoute

    found: list[tuple[Any, str]] = []
    for context in iter_route_contexts([entry]):  # type: ignore[list-item]  # an _IncludedRouter is a BaseRoute
        route, path_format = getattr(context, "route", None), getattr(context, "path_format", None)
        if isinstance(route, StarletteRoute) and isinstance(path_format, str):
            found.append((route, path_format))
    return found


def _convertor_params(entry: Any) -> tuple[Param, ...]:
    from starlette.convertors import CONVERTOR_TYPES

    names = {id(convertor): name for name, convertor in CONVERTOR_TYPES.items()}
    return tuple(Param(name, "path", convertor=names.get(id(convertor), type(convertor).__name__))
                 for name, convertor in entry.param_convertors.items())


def _starlette_route(entry: Any, prefix: str) -> Route:
    params = _convertor_params(entry)
    handler = entry.endpoint
    if entry.methods:
        methods = _explicit(entry.methods)
    elif inspect.isclass(handler):  # an HTTPEndpoint answers the methods it defines
        methods = tuple(sorted(m for m in _HTTP_METHODS if callable(getattr(handler, m.lower(), None)))) or ("GET",)
    else:  # a bare ASGI endpoint answers any method
        methods = ("GET",)
    file, line = _source(handler, methods)
    hidden = getattr(entry, "include_in_schema", True) is False or _framework_own(handler)
    return Route(prefix + entry.path_format, methods, params, handler, file, line, source="starlette",
                 name=entry.name, hidden=hidden)


def _litestar_routes(app: Any) -> list[Route]:
    found: list[Route] = []
    for entry in app.routes:
        handlers = getattr(entry, "route_handlers", None)
        if handlers is None:  # a websocket or ASGI route
            continue
        by_method: dict[str, Any] = {}
        for handler in handlers:
            if getattr(handler, "include_in_schema", True) is False:
                continue  # Litestar's own OPTIONS handlers
            for method in handler.http_methods:
                by_method.setdefault(method.upper(), handler)
        params = tuple(
            Param(name, "path", convertor=getattr(definition.type, "__name__", str(definition.type)))
            for name, definition in dict(entry.path_parameters).items()
        )
        # One route per handler: a path's get and delete are two functions, each reported at its own line.
        by_handler: dict[int, tuple[Any, list[str]]] = {}
        for method in _explicit(by_method):
            by_handler.setdefault(id(by_method[method]), (by_method[method], []))[1].append(method)
        for handler, methods in by_handler.values():
            fn = getattr(handler.fn, "value", handler.fn)  # older Litestar wraps it
            file, line = _source(fn, methods)
            found.append(Route(template(entry.path), tuple(methods), params, fn, file, line, source="litestar",
                               name=getattr(handler, "name", None), hidden=_framework_own(fn)))
    return found


def _framework_own(handler: object) -> bool:
    """A handler the framework defines (docs pages, schema endpoints), not the app."""
    module = getattr(inspect.unwrap(handler), "__module__", None) if callable(handler) else None
    return isinstance(module, str) and module.split(".", 1)[0] in ("starlette", "fastapi", "litestar")


def _explicit(methods: object) -> tuple[str, ...]:
    names = {str(method).upper() for method in methods}  # type: ignore[attr-defined]
    kept = names - IMPLICIT_METHODS if names - IMPLICIT_METHODS else names
    return tuple(sorted(kept))


def _source(handler: object, methods: Sequence[str]) -> tuple[str | None, int | None]:
    """Where the handler is defined; for a class endpoint, its method for the first HTTP method."""
    target = handler
    if not (inspect.isclass(handler) or inspect.isroutine(handler)):
        target = handler = type(handler)  # an ASGI app instance: its class's __call__
        methods = ["__call__"]
    if inspect.isclass(handler):
        for method in methods:
            found = getattr(handler, method if method.startswith("__") else method.lower(), None)
            if found is not None:
                target = found
                break
    try:
        target = inspect.unwrap(target)  # type: ignore[arg-type]
        file = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (TypeError, OSError, ValueError):
        return None, None
    return file, line


# --- OpenAPI ------------------------------------------------------------------------------------------

def _schema_paths(app: object, table: list[Route] | None) -> list[str]:
    """Where to ask for the schema. With a routing table, only a path it routes (no blind requests)."""
    for layer in _layers(app):
        url = getattr(layer, "openapi_url", None)  # FastAPI says where
        if isinstance(url, str) and url:
            return [url]
        if layer is not app and getattr(layer, "router", None) is not None:
            break
    if table is None:
        return list(SCHEMA_PATHS)
    routed = {route.path for route in table if "GET" in route.methods}
    return [path for path in SCHEMA_PATHS if path in routed]


def _fetch_schema(app: object, table: list[Route] | None, headers: SchemaHeaders) -> dict[str, Any] | None:
    for path in _schema_paths(app, table):
        document = _schema_at(app, path, headers)
        if document is not None:
            return document
    return None


def _schema_at(app: object, path: str, headers: SchemaHeaders) -> dict[str, Any] | None:
    status, body = asgi_get(app, path, headers=headers(path))  # type: ignore[arg-type]
    if status != 200:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("paths"), dict) and (
            "openapi" in document or "swagger" in document):
        return document
    return None


def _attach_mounted(app: object, table: list[Route], headers: SchemaHeaders) -> list[Route]:
    """Operations for the routes of a mounted app that serves its own schema (a FastAPI app under
    '/api', whose '/api/openapi.json' lists '/tables/' for the route '/api/tables/')."""
    for route in [route for route in table if route.path.endswith("/openapi.json") and "GET" in route.methods]:
        prefix = route.path.removesuffix("/openapi.json")
        under = [index for index, entry in enumerate(table)
                 if entry.path.startswith(prefix + "/") and not entry.operations]
        document = _schema_at(app, route.path, headers) if prefix and under else None
        if document is None:
            continue
        attached = _attach_operations([table[index] for index in under], document, prefix)
        for index, entry in zip(under, attached, strict=True):
            table[index] = entry
    return table


def _openapi_routes(document: Mapping[str, Any]) -> list[Route]:
    found: list[Route] = []
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        operations = {method.upper(): operation for method, operation in item.items()
                      if method.upper() in (*_HTTP_METHODS, *IMPLICIT_METHODS) and isinstance(operation, dict)}
        methods = _explicit(operations)
        if not methods:
            continue
        params = operation_params(item, operations[methods[0]])
        found.append(Route(template(path), methods, params, operations=operations, schema=document,
                           source="openapi", name=operations[methods[0]].get("operationId")))
    return found


def operation_params(item: Mapping[str, Any], operation: Mapping[str, Any]) -> tuple[Param, ...]:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*item.get("parameters", ()), *operation.get("parameters", ())]:  # operation's win
        if isinstance(raw, dict) and "name" in raw and "in" in raw:
            merged[(raw["name"], raw["in"])] = raw
    return tuple(
        Param(raw["name"], raw["in"], required=bool(raw.get("required", raw["in"] == "path")),
              schema=raw.get("schema"))
        for raw in merged.values() if raw["in"] in ("path", "query", "header", "cookie")
    )


def _attach_operations(table: list[Route], document: Mapping[str, Any], prefix: str = "") -> list[Route]:
    """The document's operations on the table's routes; ``prefix`` is where the document's app is mounted."""
    by_path = {template(prefix + path): item for path, item in document["paths"].items() if isinstance(item, dict)}
    attached: list[Route] = []
    for route in table:
        item = by_path.get(route.path)
        if item is None:
            attached.append(route)
            continue
        operations = {method: item[method.lower()] for method in route.methods
                      if isinstance(item.get(method.lower()), dict)}
        if not operations:
            attached.append(route)
            continue
        schema_params = operation_params(item, operations[route.methods[0]])
        convertors = {param.name: param.convertor for param in route.params}
        params = tuple(replace(param, convertor=convertors.get(param.name)) for param in schema_params)
        known = {param.name for param in params}
        params += tuple(param for param in route.params if param.name not in known)
        attached.append(replace(route, params=params, operations=operations, schema=document))
    return attached


# --- a request in-process, without the driver -----------------------------------------------------------

def asgi_get(app: ASGIApp, path: str, *, timeout: float = 10.0,
             headers: Sequence[tuple[str, str]] = ()) -> tuple[int | None, bytes]:
    """GET ``path`` from ``app`` in-process on a fresh event loop in its own thread.

    A thread, so that it works from sync code and from inside a running loop
    alike. Returns (status, body); status None when the app answered nothing in
    time or raised.
    """
    outcome: list[tuple[int | None, bytes]] = []

    def main() -> None:
        import anyio

        async def call() -> tuple[int | None, bytes]:
            status: int | None = None
            chunks: list[bytes] = []
            done = anyio.Event()
            sent_request = False

            async def receive() -> Message:
                nonlocal sent_request
                if not sent_request:
                    sent_request = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await done.wait()
                return {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                elif message["type"] == "http.response.body":
                    chunks.append(bytes(message.get("body", b"")))
                    if not message.get("more_body", False):
                        done.set()

            raw_path, _, query = path.partition("?")
            scope: Scope = {
                "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
                "root_path": "", "query_string": query.encode(),
                "headers": [(b"host", b"testserver"),
                            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers)],
                "client": ("127.0.0.1", 123), "server": ("testserver", 80), "state": {},
            }
            with anyio.move_on_after(timeout):
                await app(scope, receive, send)
            return status, b"".join(chunks)

        try:
            outcome.append(anyio.run(call))
        except Exception:
            outcome.append((None, b""))

    thread = threading.Thread(target=main, name="pytest-disconnect route discovery", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    return outcome[0] if outcome else (None, b"")
