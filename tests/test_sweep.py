"""The sweep through pytester: every route of an app, one test each, generated requests, searched moments."""

from __future__ import annotations

import pytest

# Imported out here: pytester's in-process runs drop modules first imported inside a run,
# and the package caches what it loads lazily.
import pytest_disconnect._sweep.items
import pytest_disconnect._sweep.run  # noqa: F401
from pytest_disconnect._errors import SettingError
from pytest_disconnect._sweep.config import Budget, RoutePlan, parse

# Two routes that ignore the client leaving, one that stops, one mounted with a path parameter.
SERVICE = '''
import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router


async def cancel_on_disconnect(request, work):
    async with anyio.create_task_group() as group:
        async def watch():
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()
        group.start_soon(watch)
        await work()
        group.cancel_scope.cancel()


async def careless(request):
    await anyio.sleep(3)
    return PlainTextResponse("done")


async def careful(request):
    await cancel_on_disconnect(request, lambda: anyio.sleep(30))
    return PlainTextResponse("done")


async def item(request):
    if request.path_params["item_id"] > 5:
        return PlainTextResponse("no such item", status_code=404)
    await cancel_on_disconnect(request, lambda: anyio.sleep(2))
    return PlainTextResponse("item")


class Stream:
    """A raw ASGI endpoint that stops if the client leaves before the response starts; once
    streaming it never calls receive() again, and uvicorn's send() stays silent (bug B4)."""

    async def __call__(self, scope, receive, send):
        request = Request(scope, receive)
        left = False

        async def work():
            await anyio.sleep(1)

        async with anyio.create_task_group() as group:
            async def watch():
                nonlocal left
                while (await receive())["type"] != "http.disconnect":
                    pass
                left = True
                group.cancel_scope.cancel()
            group.start_soon(watch)
            await work()
            group.cancel_scope.cancel()
        if left:
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(20):
            await anyio.sleep(0.5)
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})


app = Starlette(routes=[
    Route("/careless", careless),
    Route("/careful", careful),
    Route("/stream", Stream()),
    Mount("/api", app=Router([Route("/items/{item_id:int}", item, methods=["GET", "DELETE"])])),
])
'''


@pytest.fixture
def service(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE)
    return pytester


def test_cli_sweeps_every_route_one_test_each(service: pytest.Pytester) -> None:
    result = service.runpytest("--disconnect-sweep=service:app", "-v")

    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines([
        "disconnect-sweep?service:app?::GET /careless FAILED*",
        "disconnect-sweep?service:app?::GET /careful PASSED*",
        "disconnect-sweep?service:app?::GET /stream FAILED*",
        "disconnect-sweep?service:app?::DELETE /api/items/{item_id} PASSED*",
        "disconnect-sweep?service:app?::GET /api/items/{item_id} PASSED*",
    ], consecutive=True)
    result.stdout.fnmatch_lines([
        "GET /careless: the simplest failing moment in * tried is after=request-chunks:0; request: GET /careless",
        "  handler: *service.py:*",
        "",
        "GET /careless kept running 3.00 s after http.disconnect (tolerance 1.00 s) [virtual clock]",
    ], consecutive=True)


def test_the_search_shrinks_to_the_simplest_failing_moment(service: pytest.Pytester) -> None:
    # /stream stops for any moment before its response starts: the simplest failure is the start.
    result = service.runpytest("--disconnect-sweep=service:app", "-k", "stream")

    result.assert_outcomes(failed=1, deselected=4)
    result.stdout.fnmatch_lines([
        "GET /stream: the simplest failing moment in * tried is after=response-start; request: GET /stream"])


def test_path_parameters_come_from_the_convertor(service: pytest.Pytester) -> None:
    # The int convertor draws 0 first, a valid item: the request is sent with it.
    result = service.runpytest("--disconnect-sweep=service:app", "-k", "items", "-rA")

    result.assert_outcomes(passed=2, deselected=3)
    result.stdout.fnmatch_lines(["GET /api/items/{item_id}: * moments tried with GET /api/items/0, every one "
                                 "stopped in time or finished first"])


def test_only_the_sweep_runs_without_test_paths_and_both_with(service: pytest.Pytester) -> None:
    service.makepyfile(test_other="def test_other():\n    pass\n")

    alone = service.runpytest("--disconnect-sweep=service:app", "-k", "careful")
    alone.assert_outcomes(passed=1, deselected=4)
    both = service.runpytest("--disconnect-sweep=service:app", "-k", "careful or other", ".")
    both.assert_outcomes(passed=2, deselected=4)


def test_last_failed_reruns_the_failing_routes(service: pytest.Pytester) -> None:
    service.runpytest("--disconnect-sweep=service:app", "-p", "cacheprovider")

    again = service.runpytest("--disconnect-sweep=service:app", "-p", "cacheprovider", "--lf")

    again.assert_outcomes(failed=2, deselected=3)


def test_bad_app_spec_is_a_usage_error(service: pytest.Pytester) -> None:
    result = service.runpytest("--disconnect-sweep=service")
    result.stderr.fnmatch_lines(["*--disconnect-sweep expects 'module:app', e.g. 'myproject.main:app', not 'service'"])
    result = service.runpytest("--disconnect-sweep=service:nope")
    result.stdout.fnmatch_lines(["*--disconnect-sweep=service:nope: 'service' has no attribute 'nope'*"])


# --- per-route configuration ---------------------------------------------------------------------------

def test_ini_rules_exclude_routes_and_set_their_tolerance(service: pytest.Pytester) -> None:
    service.makeini("""
        [pytest]
        disconnect_sweep_routes =
            GET /careless: skip=a known slow report
            GET /stream: tolerance=20
            * /api/*: skip
    """)

    result = service.runpytest("--disconnect-sweep=service:app", "-rs")

    result.assert_outcomes(passed=2, skipped=3)
    result.stdout.fnmatch_lines([
        "SKIPPED ?1? service.py:*: a known slow report",
        "SKIPPED ?2? service.py:*: excluded by disconnect_sweep_routes",
    ])


def test_a_route_without_a_valid_request_is_skipped_with_the_reason(service: pytest.Pytester) -> None:
    service.makeini("""
        [pytest]
        disconnect_sweep_routes = GET /api/items/*: path=/api/items/9
    """)

    result = service.runpytest("--disconnect-sweep=service:app", "-k", "GET and items", "-rs")

    result.assert_outcomes(skipped=1, deselected=4)
    result.stdout.fnmatch_lines([
        "SKIPPED ?1? service.py:*: GET /api/items/{item_id}: no valid request in 20 generated "
        "(GET /api/items/9 -> 404); give it with a 'param=', 'query=', 'header=' or 'path=' rule in "
        "disconnect_sweep_routes"])


def test_a_bad_rule_names_its_line(service: pytest.Pytester) -> None:
    service.makeini("""
        [pytest]
        disconnect_sweep_routes = POST /upload: tolerance=soon
    """)

    result = service.runpytest("--disconnect-sweep=service:app")

    result.stderr.fnmatch_lines([
        "ERROR: invalid disconnect_sweep_routes line 'POST /upload: tolerance=soon' in tox.ini: "
        "tolerance expected seconds >= 0"])


@pytest.mark.parametrize(("line", "error"), [
    ("/health: skip", "expected a method (or *) and a path before the colon, e.g. 'GET /health'"),
    ("GET /health", "expected 'METHOD PATH: key=value, ...', e.g. 'GET /health: skip'"),
    ("GET /health: often=2", "unknown key 'often': expected one of skip, allow, path, param, query, header, "
     "examples, seconds, tolerance, patience, clock, server"),
    ("GET /health: examples=0", "expected a whole number >= 1"),
    ("GET /health: path=health", "path expected a request path starting with '/', not 'health'"),
    ("GET /health: clock=fast", "clock expected one of real, virtual"),
    ("GET /health:", "nothing after the colon: expected key=value, e.g. 'skip' or 'tolerance=3'"),
])
def test_rule_errors(line: str, error: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse([line], "in pyproject.toml")
    assert str(caught.value) == f"invalid disconnect_sweep_routes line {line!r} in pyproject.toml: {error}"


def test_rules_match_by_method_and_wildcard_later_lines_win() -> None:
    config = parse(["* /api/*: tolerance=2, examples=5", "GET /api/items: tolerance=3, allow=cache_refresh",
                    "POST /api/items: skip"], "in pyproject.toml", seconds="1.5")

    assert config.plan("GET", "/api/items") == RoutePlan(
        settings={"tolerance": 3.0}, allow=("cache_refresh",), budget=Budget(5, 1.5),
        rules=("* /api/*: tolerance=2, examples=5", "GET /api/items: tolerance=3, allow=cache_refresh"))
    assert config.plan("POST", "/api/items").skip == "excluded by disconnect_sweep_routes"
    assert config.plan("GET", "/health") == RoutePlan(budget=Budget(20, 1.5))


# --- sweep(app_fixture=...) ---------------------------------------------------------------------------------

def test_sweep_in_a_test_file_parametrizes_by_route(service: pytest.Pytester) -> None:
    service.makeconftest("""
        import pytest
        from service import app as service_app

        @pytest.fixture
        def app():
            yield service_app
    """)
    service.makepyfile(test_api="""
        from pytest_disconnect import sweep

        test_api_disconnects = sweep(app_fixture="app")
    """)

    result = service.runpytest("-v", "-k", "careful or careless")

    result.assert_outcomes(passed=1, failed=1, deselected=3)
    result.stdout.fnmatch_lines([
        "test_api.py::test_api_disconnects?GET /careless? FAILED*",
        "test_api.py::test_api_disconnects?GET /careful? PASSED*",
    ], consecutive=True)


def test_sweep_of_a_fixture_that_needs_other_fixtures_asks_for_an_app(service: pytest.Pytester) -> None:
    service.makeconftest("""
        import pytest
        from service import app as service_app

        @pytest.fixture
        def database():
            return {}

        @pytest.fixture
        def app(database):
            return service_app
    """)
    service.makepyfile(test_api="""
        from pytest_disconnect import sweep

        test_needs = sweep(app_fixture="app")
        test_given = sweep(app_fixture="app", app="service:app")
    """)

    result = service.runpytest("-k", "careful")

    result.stdout.fnmatch_lines([
        "*sweep(app_fixture='app') in test_api.py::test_needs: the routes are listed at collection, and the "
        "fixture 'app' needs other fixtures: pass sweep(app_fixture='app', app='package.module:app'), an app "
        "with the same routes"])
    result.assert_outcomes(errors=1)


def test_sweep_rejects_a_bad_fixture_name() -> None:
    from pytest_disconnect import sweep

    with pytest.raises(TypeError, match=r"sweep\(app_fixture=\.\.\.\) takes a fixture name, not 'my app'"):
        sweep(app_fixture="my app")


# --- other frameworks, generated bodies ---------------------------------------------------------------------

FASTAPI_SERVICE = '''
import anyio
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Order(BaseModel):
    sku: str
    quantity: int


@app.post("/orders", status_code=201)
async def place(order: Order) -> Order:
    await anyio.sleep(2)  # never looks at the connection
    return order


@app.get("/orders/{order_id}")
async def show(order_id: int, verbose: bool) -> dict[str, int]:
    return {"id": order_id}
'''


def test_fastapi_bodies_and_parameters_come_from_the_openapi_schema(service: pytest.Pytester) -> None:
    service.makepyfile(shop=FASTAPI_SERVICE)

    result = service.runpytest("--disconnect-sweep=shop:app", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        # Before the body is read, FastAPI's body reading sees the disconnect and stops: not a failure.
        "POST /orders: the simplest failing moment in * tried is after=request-chunks:1; "
        'request: POST /orders with JSON {"sku": "", "quantity": 0}',
        "  handler: *shop.py:*",
    ], consecutive=True)
    result.stdout.fnmatch_lines(["GET /orders/{order_id}: * moments tried with GET /orders/*?verbose=*, every one "
                                 "stopped in time or finished first"])


LITESTAR_SERVICE = '''
import anyio
from litestar import Litestar, get


@get("/reports/{year:int}")
async def report(year: int) -> str:
    await anyio.sleep(3)  # never looks at the connection
    return "report"


@get("/health")
async def health() -> str:
    return "ok"


app = Litestar([report, health], logging_config=None)
'''


def test_litestar_apps_are_swept(service: pytest.Pytester) -> None:
    pytest.importorskip("litestar")
    service.makepyfile(reports=LITESTAR_SERVICE)

    result = service.runpytest("--disconnect-sweep=reports:app", "-v", "-W", "ignore::DeprecationWarning")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "disconnect-sweep?reports:app?::GET /reports/{year} FAILED*",
        "disconnect-sweep?reports:app?::GET /health PASSED*",
    ], consecutive=True)
    result.stdout.fnmatch_lines(["GET /reports/{year}: the simplest failing moment in * tried is "
                                 "after=request-chunks:0; request: GET /reports/*"])


BARE_SERVICE = '''
import json
import anyio

SCHEMA = {"openapi": "3.1.0", "info": {"title": "bare", "version": "1"},
          "paths": {"/work": {"get": {"responses": {"200": {"description": "ok"}}}}}}


async def app(scope, receive, send):
    """No framework: /openapi.json says what it serves; /work never looks at the connection."""
    if scope["path"] == "/work":
        await anyio.sleep(3)
        body = b"done"
    else:
        body = json.dumps(SCHEMA).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
'''


def test_an_app_known_only_by_its_openapi_schema_is_swept(service: pytest.Pytester) -> None:
    service.makepyfile(bare=BARE_SERVICE)

    result = service.runpytest("--disconnect-sweep=bare:app", "-v")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["disconnect-sweep?bare:app?::GET /work FAILED*",
                                 "GET /work: the simplest failing moment in * tried is after=request-chunks:0; "
                                 "request: GET /work"])


UNTYPED = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id):  # no annotation: the schema says nothing of its type
    return {"item_id": item_id}
'''


def test_an_untyped_path_parameter_gets_a_word(service: pytest.Pytester) -> None:
    # Found sweeping FastAPI's documentation apps: an empty schema once made no request at all.
    service.makepyfile(untyped=UNTYPED)

    result = service.runpytest("--disconnect-sweep=untyped:app", "-rA")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["GET /items/{item_id}: * moments tried with GET /items/0, every one stopped *"])


# The lifespan makes a cache; the careless handler fills it from a slow upstream.
CACHED = '''
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app):
    yield {"cache": {}}


async def careless(request):
    cache = request.state.cache
    if "price" not in cache:
        await anyio.sleep(2)  # the slow upstream
        cache["price"] = "42"
    return PlainTextResponse(cache["price"])


app = Starlette(routes=[Route("/price", careless)], lifespan=lifespan)
'''


def test_each_scenario_gets_a_fresh_lifespan(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # With one lifespan for the route, the probe's request warmed the cache and every searched
    # moment answered from it: the careless handler passed.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(cached=CACHED)

    result = pytester.runpytest("--disconnect-sweep=cached:app")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["GET /price kept running 2.00 s after http.disconnect (tolerance 1.00 s) [virtual clock]"])
