"""The routes a Starlette-based app (Starlette, FastAPI, mounted sub-apps) has, for messages.

The smallest listing the wrong-route message needs; a fuller discovery (path
parameters, OpenAPI) belongs to the sweep's route module, which can replace this.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Hops through middleware (``.app``) before giving up on finding a router.
_MAX_WRAPPERS = 20


@dataclass(frozen=True)
class RouteLine:
    """One route as a message lists it: 'GET', '/items/{item_id}'."""

    methods: str
    path: str

    def text(self) -> str:
        return f"{self.methods:<7} {self.path}".rstrip()


def list_routes(app: object) -> list[RouteLine] | None:
    """The app's routes in the order its router tries them; None if it has no router we can read."""
    routes = _router_routes(app)
    if routes is None:
        return None
    lines: list[RouteLine] = []
    _walk(routes, "", lines, depth=0)
    return lines


def _router_routes(app: object) -> list[object] | None:
    for _ in range(_MAX_WRAPPERS):
        router = getattr(app, "router", None)
        routes = getattr(router, "routes", None)
        if isinstance(routes, list):
            return routes
        routes = getattr(app, "routes", None)
        if isinstance(routes, list):
            return routes
        inner = getattr(app, "app", None)  # a middleware wrapping the app
        if inner is None or inner is app:
            return None
        app = inner
    return None


def _walk(routes: list[object], prefix: str, lines: list[RouteLine], depth: int) -> None:
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        methods = getattr(route, "methods", None)
        if isinstance(methods, (set, frozenset, list, tuple)) and methods:
            names = set(methods)
            if "GET" in names:
                names.discard("HEAD")  # Starlette adds HEAD to every GET route
            lines.append(RouteLine(",".join(sorted(names)), prefix + path))
            continue
        inner = getattr(route, "routes", None)  # a Mount (or Host): its own routes, under its prefix
        if hasattr(route, "app") and not hasattr(route, "endpoint"):
            if isinstance(inner, list) and inner and depth < _MAX_WRAPPERS:
                _walk(inner, prefix + path, lines, depth + 1)
            else:
                lines.append(RouteLine("*", f"{prefix}{path}/... ({_kind(getattr(route, 'app', None))})"))
            continue
        if hasattr(route, "endpoint"):  # a WebSocketRoute
            lines.append(RouteLine("WS", prefix + path))


def _kind(app: object) -> str:
    return f"mounted {type(app).__name__}" if app is not None else "mounted app"
