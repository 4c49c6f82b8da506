"""Requests for a swept route, generated rather than hand-written.

Where the app serves an OpenAPI schema, Schemathesis (the ``sweep`` extra) draws
path and query parameters, headers and JSON bodies from the route's operation.
Without a schema, path parameters come from the route's convertors (Starlette's
``int``, ``float``, ``uuid``, ``str``, ``path``; Litestar's types). Every
strategy shrinks towards the simplest request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from ._routes import Param, Route

#: Safe characters for a generated path segment: a readable value that every router accepts.
_SEGMENT = "abcdefghijklmnopqrstuvwxyz0123456789"


@final
@dataclass(frozen=True)
class SweepRequest:
    """One generated request: what ``disconnect.run()`` is given."""

    method: str
    #: The path with parameters filled in and the query string, percent-encoded.
    path: str
    json: object = None
    #: True when the request has a JSON body (``json`` may then be ``None``: a JSON null).
    has_json: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """'POST /products with JSON {"name": "", "price_cents": 0}', for reports."""
        text = f"{self.method} {self.path}"
        if self.has_json:
            body = json.dumps(self.json)
            text += f" with JSON {body if len(body) <= 80 else body[:77] + '...'}"
        return text

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "path": self.path,
                **({"json": self.json} if self.has_json else {}),
                **({"headers": dict(self.headers)} if self.headers else {})}


class NotGenerated(Exception):
    """No request can be generated for this route; the message says why."""


def requests_for(route: Route, method: str, *, path: str | None = None) -> st.SearchStrategy[SweepRequest]:
    """Requests for ``method`` on ``route``, simplest first. ``path`` fixes the path (an ini override).

    Raises NotGenerated with the reason when the route needs what cannot be generated.
    """
    operation = route.operation(method)
    if operation is not None and route.schema is not None:
        return _from_openapi(route, method, fixed_path=path)
    return _from_convertors(route, method, fixed_path=path)


def _from_convertors(route: Route, method: str, *, fixed_path: str | None) -> st.SearchStrategy[SweepRequest]:
    if fixed_path is not None:
        return st.just(SweepRequest(method, fixed_path))
    params = route.path_params()
    if not params:
        return st.just(SweepRequest(method, route.path))
    values = st.fixed_dictionaries({param.name: _segment(param) for param in params})
    return values.map(lambda filled: SweepRequest(method, _fill(route.path, filled)))


def _segment(param: Param) -> st.SearchStrategy[str]:
    kind = (param.convertor or "str").lower()
    if kind in ("int", "integer"):
        return st.integers(min_value=0, max_value=10**6).map(str)
    if kind == "float":
        return st.integers(min_value=0, max_value=10**6).map(lambda number: f"{number}.0")
    if kind == "uuid":
        return st.uuids().map(str)
    if kind == "path":
        return st.lists(st.text(_SEGMENT, min_size=1, max_size=8), min_size=1, max_size=3).map("/".join)
    if kind in ("str", "string"):
        return st.text(_SEGMENT, min_size=1, max_size=8)
    raise NotGenerated(f"path parameter {param.name!r} has convertor {param.convertor!r}, which the sweep "
                       "cannot generate values for: set a path for this route in disconnect_sweep_routes")


def _fill(template: str, values: Mapping[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe="/"))
    return path


# --- OpenAPI, through Schemathesis ----------------------------------------------------------------------

_SCHEMAS: dict[int, tuple[Mapping[str, Any], Any]] = {}  # id(document) -> (document, Schemathesis schema)


def _schemathesis_schema(document: Mapping[str, Any]) -> Any:
    cached = _SCHEMAS.get(id(document))
    if cached is not None and cached[0] is document:
        return cached[1]
    try:
        import schemathesis
    except ImportError:
        raise NotGenerated(
            "the route's parameters or body come from the app's OpenAPI schema, and generating them "
            "needs Schemathesis: pip install 'pytest-disconnect[sweep]'") from None
    schema = schemathesis.openapi.from_dict(dict(document))
    _SCHEMAS[id(document)] = (document, schema)
    return schema


def _from_openapi(route: Route, method: str, *, fixed_path: str | None) -> st.SearchStrategy[SweepRequest]:
    operation = route.operation(method)
    assert operation is not None and route.schema is not None
    if not operation.get("parameters") and "requestBody" not in operation and not _path_level_params(route):
        # Nothing to generate: no need for Schemathesis at all.
        return st.just(SweepRequest(method, fixed_path or route.path))
    body = operation.get("requestBody")
    if isinstance(body, Mapping) and body.get("required"):
        content = body.get("content")
        if isinstance(content, Mapping) and content and not any("json" in kind for kind in content):
            raise NotGenerated(f"the request body must be {', '.join(content)}; the sweep generates JSON bodies "
                               "only")
    schema = _schemathesis_schema(route.schema)
    raw_path = _raw_path(route)
    try:
        strategy: st.SearchStrategy[Any] = schema[raw_path][method].as_strategy()
    except Exception as exc:  # Schemathesis names what it could not read in the schema
        raise NotGenerated(f"Schemathesis could not build requests from the schema: {exc}") from None
    return strategy.map(lambda case: _from_case(case, method, fixed_path))


def _path_level_params(route: Route) -> bool:
    item = route.schema.get("paths", {}).get(_raw_path(route), {}) if route.schema is not None else {}
    return bool(isinstance(item, Mapping) and item.get("parameters"))


def _raw_path(route: Route) -> str:
    """The schema's own spelling of the route's path ('/items/{item_id:int}' may be '/items/{item_id}')."""
    from ._routes import template

    assert route.schema is not None
    for key in route.schema.get("paths", {}):
        if template(key) == route.path:
            return str(key)
    return route.path


def _from_case(case: Any, method: str, fixed_path: str | None) -> SweepRequest:
    path = fixed_path
    if path is None:
        filled = {name: _scalar(value) for name, value in (case.path_parameters or {}).items()}
        path = _fill(case.path, filled)
        query = {name: _query_value(value) for name, value in (case.query or {}).items()}
        if query:
            path += "?" + urlencode(query, doseq=True)
    headers = [(str(name), _scalar(value)) for name, value in (case.headers or {}).items()]
    if case.cookies:
        headers.append(("cookie", "; ".join(f"{name}={_scalar(value)}" for name, value in case.cookies.items())))
    has_json = not _not_set(case.body) and (case.media_type or "application/json").endswith("json")
    return SweepRequest(method, path, case.body if has_json else None, has_json, tuple(headers))


def _not_set(value: object) -> bool:
    return type(value).__name__ == "NotSet"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _query_value(value: object) -> str | list[str]:
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return _scalar(value)
