"""Requests for a swept route, generated rather than hand-written.

Where the app serves an OpenAPI schema, path and query parameters, headers and
JSON bodies are drawn from the route's operation (``jsonschema.py`` says why not
with a library).
Without a schema, path parameters come from the route's convertors (Starlette's
``int``, ``float``, ``uuid``, ``str``, ``path``; Litestar's types). Every
strategy shrinks towards the simplest request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, final
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from .._asgi.routes import Param, Route, operation_params, template

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


def requests_for(route: Route, method: str, *, path: str | None = None, params: Mapping[str, str] | None = None,
                 query: Mapping[str, str] | None = None) -> st.SearchStrategy[SweepRequest]:
    """Requests for ``method`` on ``route``, simplest first. ``path`` fixes the path (an ini override);
    ``params`` fixes the route's parameters by name; ``query`` is added to the query string.

    Raises NotGenerated with the reason when the route needs what cannot be generated.
    """
    given = dict(params or {})
    operation = route.operation(method)
    if operation is not None and route.schema is not None:
        strategy = _from_openapi(route, method, fixed_path=path, given=given)
    else:
        strategy = _from_convertors(route, method, fixed_path=path, given=given)
    extra = dict(query or {})
    return strategy.map(lambda request: _with_query(request, extra)) if extra else strategy


def _from_convertors(route: Route, method: str, *, fixed_path: str | None,
                     given: Mapping[str, str]) -> st.SearchStrategy[SweepRequest]:
    if fixed_path is not None:
        return st.just(SweepRequest(method, fixed_path))
    params = route.path_params()
    if not params:
        return st.just(SweepRequest(method, route.path))
    values = st.fixed_dictionaries({param.name: st.just(given[param.name]) if param.name in given
                                    else _segment(param) for param in params})
    return values.map(lambda filled: SweepRequest(method, _fill(route.path, filled)))


def _with_query(request: SweepRequest, extra: Mapping[str, str]) -> SweepRequest:
    """The rule's query parameters, after the generated ones."""
    joiner = "&" if "?" in request.path else "?"
    return replace(request, path=request.path + joiner + urlencode(extra))


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


# --- OpenAPI ---------------------------------------------------------------------------------------------

def _from_openapi(route: Route, method: str, *, fixed_path: str | None,
                  given: Mapping[str, str]) -> st.SearchStrategy[SweepRequest]:
    from .jsonschema import Unsupported, from_schema

    operation = route.operation(method)
    document = route.schema
    assert operation is not None and document is not None
    params = {param.name: param for param in route.params}  # with the route's convertors
    item = next((entry for key, entry in document.get("paths", {}).items() if template(key) == route.path), None)
    if isinstance(item, Mapping):  # this method's own parameters (path-level ones included)
        convertors = {param.name: param.convertor for param in route.params}
        params = {param.name: replace(param, convertor=convertors.get(param.name))
                  for param in operation_params(item, operation)}
    values: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    try:
        for param in params.values():
            if param.location == "path" and fixed_path is not None:
                continue
            key = f"{param.location}:{param.name}"
            if param.name in given:  # a rule's value, sent as it is
                values[key] = st.just(given[param.name])
                continue
            schema = param.schema if param.schema is not None else {}
            if param.location == "path" and _plain(schema):
                strategy = _segment(param)  # a readable word, or what the convertor takes
            else:
                strategy = from_schema(schema, root=document)
                if param.location == "path":
                    strategy = strategy.map(_scalar).filter(bool)  # an empty segment routes elsewhere
            (values if param.required else optional)[key] = strategy
        body = _json_body(operation, document)
    except Unsupported as exc:
        raise NotGenerated(f"the OpenAPI schema uses {exc}, which the sweep does not generate") from None
    drawn = st.fixed_dictionaries(values, optional=optional)
    if body is None:
        return drawn.map(lambda chosen: _request(route, method, fixed_path, chosen, None, False))
    return st.tuples(drawn, body).map(lambda pair: _request(route, method, fixed_path, pair[0], pair[1], True))


def _plain(schema: Mapping[str, Any]) -> bool:
    """No constraint but perhaps 'a string': any word will do."""
    return not (set(schema) - {"type", "title", "description"}) and schema.get("type", "string") == "string"


def _json_body(operation: Mapping[str, Any], document: Mapping[str, Any]) -> st.SearchStrategy[Any] | None:
    """The body's strategy, or None when the operation takes no body (or an optional one: simplest is none)."""
    from .jsonschema import from_schema

    body = operation.get("requestBody")
    while isinstance(body, Mapping) and "$ref" in body:
        body = _resolve(document, str(body["$ref"]))
    if not isinstance(body, Mapping) or not body.get("required", False):
        return None
    content = body.get("content")
    if not isinstance(content, Mapping) or not content:
        return None
    for media_type, entry in content.items():
        if "json" in media_type and isinstance(entry, Mapping):
            return from_schema(entry.get("schema", {}), root=document)
    raise NotGenerated(f"the request body must be {', '.join(content)}; the sweep generates JSON bodies only")


def _resolve(document: Mapping[str, Any], ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _request(route: Route, method: str, fixed_path: str | None, chosen: Mapping[str, Any], body: object,
             has_body: bool) -> SweepRequest:
    by_location: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}, "cookie": {}}
    for key, value in chosen.items():
        location, _, name = key.partition(":")
        by_location[location][name] = value
    path = fixed_path
    if path is None:
        path = _fill(route.path, {name: _scalar(value) for name, value in by_location["path"].items()})
        query = {name: _query_value(value) for name, value in by_location["query"].items()}
        if query:
            path += "?" + urlencode(query, doseq=True)
    headers = [(name, _scalar(value)) for name, value in by_location["header"].items()]
    if by_location["cookie"]:
        headers.append(("cookie", "; ".join(f"{name}={_scalar(value)}"
                                            for name, value in by_location["cookie"].items())))
    return SweepRequest(method, path, body, has_body, tuple(headers))


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _query_value(value: object) -> str | list[str]:
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return _scalar(value)
