"""Wrong routes fail: a 404 or 405 no handler chose means the scenario tested nothing.

``disconnect.run(app, "GET", "/no-such-path")`` used to pass: the router answered 404
at once, nothing ran, nothing could outlive the client. A 405 (a POST to a GET route)
is the same. Starlette and FastAPI put the route they matched in ``scope["route"]``;
a 404 raised by a handler that did run (an item that does not exist) is the handler's
choice and is not flagged. Tests that want the 404 or 405 say so: ``expect_status=404``.
"""

from __future__ import annotations

from http import HTTPStatus

from .._errors import WrongRoute
from .._links import docs_link
from .._result import DisconnectResult
from .._types import Scope
from .routes import describe, list_routes

WRONG_STATUSES = (404, 405)
#: Routes listed at most in the message; the rest are counted.
MAX_ROUTES = 30
ROUTES_UNKNOWN = "The app has no routing table to list (Starlette, FastAPI and Litestar apps have one)."
ADVICE = ("A typo in the method or path? If this answer is what the test wants, say so: "
          f"expect_status={{status}}  ({docs_link('lifespan-and-routes', 'wrong-routes')})")


def handler_matched(scope: Scope) -> bool:
    """Whether the app's router gave the request to a handler (an endpoint, not a Mount)."""
    return callable(getattr(scope.get("route"), "endpoint", None))


def is_wrong_route(result: DisconnectResult) -> bool:
    if result.status == 405:
        return True
    return result.status == 404 and not result.handler_matched


def check_route(result: DisconnectResult, expect_status: int | None, app: object) -> None:
    """Raise WrongRoute for a 404/405 no handler chose, or for a status other than the expected one."""
    __tracebackhide__ = True
    if expect_status is not None:
        if result.status is not None and result.status != expect_status:
            raise WrongRoute(unexpected_status_message(result, expect_status), result)
        return
    if is_wrong_route(result):
        raise WrongRoute(wrong_route_message(result, app_routes(app)), result)


def app_routes(app: object) -> list[str] | None:
    """'GET /items/{item_id}' per method and route (no request sent to the app); None if it has no table."""
    try:
        return describe(list_routes(app, schema=False))
    except TypeError:
        return None


def _status(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def wrong_route_message(result: DisconnectResult, routes: list[str] | None) -> str:
    status = result.status
    assert status is not None
    target = f"{result.method} {result.path}"
    if status == 405:
        allow = next((value.decode("latin-1") for name, value in result.headers if name.lower() == b"allow"), "")
        why = f"the path exists, but not for {result.method}" + (f" (it allows {allow})" if allow else "")
    else:
        why = "no route of the app matches the path"
    lines = [f"{target} was answered {_status(status)}: {why}, so no handler ran and the disconnect "
             "was never tested", ""]
    if routes is None:
        lines.append(f"  {ROUTES_UNKNOWN}")
    elif not routes:
        lines.append("  The app has no routes.")
    else:
        lines.append("  The app's routes:")
        lines += [f"    {route}" for route in routes[:MAX_ROUTES]]
        if len(routes) > MAX_ROUTES:
            lines.append(f"    ... and {len(routes) - MAX_ROUTES} more")
    lines += ["", f"  {ADVICE.format(status=status)}"]
    return "\n".join(lines)


def unexpected_status_message(result: DisconnectResult, expected: int) -> str:
    assert result.status is not None
    return (f"{result.method} {result.path} was answered {_status(result.status)}, not the "
            f"{_status(expected)} the test expects (expect_status={expected})")
