"""What sweeping real projects' apps showed the sweep did wrong, each held by a test.

Tried on an admin for Piccolo (153 routes), sqladmin and starlette-admin on sqlite, and an
advanced-alchemy Litestar service on aiosqlite; docs/sweep.md says what they found.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

# Imported out here: pytester's in-process runs drop modules first imported inside a run.
import pytest_disconnect._sweep.items
import pytest_disconnect._sweep.run  # noqa: F401
from pytest_disconnect import Disconnect
from pytest_disconnect._errors import SettingError
from pytest_disconnect._sweep.config import parse

# A database driver's worker thread, as aiosqlite keeps one per pooled connection: started
# before the request (at import here, by an earlier request in a real app) and fed through a
# queue; the answer comes back to the loop with call_soon_threadsafe.
POOLED = '''
import asyncio
import queue
import threading
import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

jobs = queue.Queue()


def worker():
    while True:
        loop, future, seconds = jobs.get()
        time.sleep(seconds)  # the query
        try:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result("rows"))
        except RuntimeError:  # that scenario's loop is closed
            pass


threading.Thread(target=worker, daemon=True).start()


async def query(request):
    future = asyncio.get_running_loop().create_future()
    jobs.put((asyncio.get_running_loop(), future, 0.05))
    return PlainTextResponse(await future)


app = Starlette(routes=[Route("/authors", query)])
'''


@pytest.fixture
def pooled(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(pooled=POOLED)
    return pytester


def test_a_request_the_virtual_clock_never_sees_finish_is_searched_on_the_real_clock(pooled: pytest.Pytester) -> None:
    # The virtual clock cannot see work in a thread the request did not start: it jumped to the
    # watch limit while the 50 ms query ran, and the sweep reported 'kept running 5.00 s'.
    result = pooled.runpytest("--disconnect-sweep=pooled:app", "-rA")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "GET /authors: searched on the real clock, because the request was still at work when the watch ended "
        "(5.00 s) on the virtual clock and finished in * s on the real one: work the virtual clock cannot see, "
        "such as a thread the request did not start: * moments tried with GET /authors, every one stopped in time "
        "or finished first",
        "*disconnect summary*",
        "*",
        "*",
        "GET /authors * stopped",
    ])


# The same pool, used only once the client has left: the handler rolls back through it.
ROLLBACK = POOLED.replace('''async def query(request):
    future = asyncio.get_running_loop().create_future()
    jobs.put((asyncio.get_running_loop(), future, 0.05))
    return PlainTextResponse(await future)''', '''async def query(request):
    from starlette.requests import ClientDisconnect

    try:
        await request.body()
    except ClientDisconnect:
        future = asyncio.get_running_loop().create_future()
        jobs.put((asyncio.get_running_loop(), future, 0.05))  # the rollback
        await future
        raise
    return PlainTextResponse("rows")''')


def test_a_virtual_clock_failure_the_real_clock_does_not_confirm_is_not_reported(pooled: pytest.Pytester) -> None:
    assert ROLLBACK != POOLED
    pooled.makepyfile(rollback=ROLLBACK)

    result = pooled.runpytest("--disconnect-sweep=rollback:app", "-rA")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "GET /authors: searched on the real clock, because the virtual clock's failure at after=* did not happen "
        "there (GET /authors kept running 5.00 s after http.disconnect * clock?): * moments tried with GET "
        "/authors, every one stopped in time or finished first",
        "*disconnect summary*",
        "*",
        "*",
        "GET /authors * stopped",
    ])


@pytest.mark.xfail(strict=True, reason=(
    "the virtual clock jumps while a thread started before the scenario (a pooled database connection's "
    "worker) does the request's work: _clock/scenario_clock.py's real_pending() knows only the scenario's "
    "own threads, processes and sockets"))
def test_the_virtual_clock_waits_for_a_pooled_worker_thread(pytester: pytest.Pytester) -> None:
    namespace: dict[str, object] = {}
    exec(compile(POOLED, "pooled.py", "exec"), namespace)
    disconnect = Disconnect()
    try:
        result = disconnect.run(namespace["app"], "GET", "/authors", after="request-chunks:0",  # type: ignore[arg-type]
                                clock="virtual", check=False)
    finally:
        disconnect.close()

    assert result.passed, result.verdict


# starlette-admin's quickstart seeds its database in the lifespan; run from the wrong folder,
# the seed's import failed and every route was skipped as 'raised LifespanError', no reason given.
BROKEN_LIFESPAN = '''
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app):
    raise RuntimeError("the seed data is missing")
    yield


async def home(request):
    return PlainTextResponse("home")


app = Starlette(routes=[Route("/", home), Route("/about", home)], lifespan=lifespan)
'''


def test_a_lifespan_that_fails_fails_each_route_with_its_reason(pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(broken=BROKEN_LIFESPAN)

    result = pytester.runpytest("--disconnect-sweep=broken:app")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "GET /: the app's lifespan failed, so the route was not swept: the Starlette app: lifespan startup failed*",
        "*RuntimeError: the seed data is missing",
    ])


def test_a_rule_written_with_a_convertor_matches_its_route() -> None:
    # The summary names sqladmin's detail route as the app wrote it, '/admin/{identity}/details/{pk:path}';
    # a rule copied from there matched nothing, as the sweep matches the template without convertors.
    config = parse(["GET /admin/{identity}/details/{pk:path}: path=/admin/user/details/1"], "in pytest.ini")

    assert config.plan("GET", "/admin/{identity}/details/{pk}").path == "/admin/user/details/1"


# An admin's routes all take the model's name ({identity} in sqladmin, {key} in starlette-admin):
# any other word is a 404, so every route was skipped until given a path= line of its own.
ADMIN = '''
import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

MODELS = {"user": {1: "ada"}}


async def listing(request):
    if request.path_params["identity"] not in MODELS:
        return PlainTextResponse("no such model", status_code=404)
    await anyio.sleep(2)  # an export that ignores the client leaving
    return PlainTextResponse("rows")


async def detail(request):
    rows = MODELS.get(request.path_params["identity"], {})
    if request.path_params["pk"] not in rows:
        return PlainTextResponse("no such row", status_code=404)
    return PlainTextResponse(rows[request.path_params["pk"]])


async def delete(request):
    if request.query_params.get("pks") != "1":
        return PlainTextResponse("which rows?", status_code=400)
    return PlainTextResponse("deleted")


app = Starlette(routes=[
    Route("/admin/{identity}/list", listing),
    Route("/admin/{identity}/details/{pk:int}", detail),
    Route("/admin/{identity}/delete", delete, methods=["DELETE"]),
])
'''


def test_param_and_query_rules_fill_a_route_s_parameters(pytester: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(admin=ADMIN)
    pytester.makeini("""
        [pytest]
        disconnect_sweep_routes =
            * /admin/*: param=identity=user, param=pk=1
            DELETE /admin/*: query=pks=1
    """)

    result = pytester.runpytest("--disconnect-sweep=admin:app", "-rA")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "GET /admin/{identity}/list: the simplest failing moment in * tried is *; request: GET /admin/user/list"])
    result.stdout.fnmatch_lines([
        "GET /admin/{identity}/details/{pk}: * moments tried with GET /admin/user/details/1, *",
        "*",
        "*",
        "DELETE /admin/{identity}/delete: * moments tried with DELETE /admin/user/delete?pks=1, *",
    ])


def test_a_param_rule_names_its_parameter() -> None:
    with pytest.raises(SettingError) as caught:
        parse(["* /admin/*: param=user"], "in pytest.ini")

    assert str(caught.value).endswith("param expected NAME=VALUE, e.g. param=item_id=1, not 'user'")


def test_rules_gather_params_and_query_by_name_later_lines_win() -> None:
    config = parse(["* /admin/*: param=identity=user, param=pk=1, query=pks=1",
                    "DELETE /admin/*: param=identity=address, query=pks=2"], "in pytest.ini")

    plan = config.plan("DELETE", "/admin/{identity}/delete")
    assert (plan.params, plan.query) == ({"identity": "address", "pk": "1"}, {"pks": "2"})


def test_each_method_of_a_litestar_path_is_reported_at_its_own_handler() -> None:
    # advanced-alchemy's service example has get, patch and delete on '/authors/{author_id:uuid}':
    # all three were reported at the delete handler's line.
    from typing import Annotated

    from litestar import Controller, Litestar, delete, get
    from litestar.params import PathParameter

    from pytest_disconnect._asgi.routes import list_routes

    class Authors(Controller):
        @get("/authors/{author_id:int}")
        async def get_author(self, author_id: Annotated[int, PathParameter()]) -> str:
            return "ada"

        @delete("/authors/{author_id:int}")
        async def delete_author(self, author_id: Annotated[int, PathParameter()]) -> None:
            return None

    routes = list_routes(Litestar([Authors], logging_config=None), schema=False)

    assert {route.methods: getattr(route.handler, "__name__", None) for route in routes} == {
        ("GET",): "get_author", ("DELETE",): "delete_author"}
    assert len({route.line for route in routes}) == 2


# Piccolo's admin: 148 of its 153 routes answered 401 or 403 (a session cookie, a CSRF token).
GUARDED = '''
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def tables(request):
    if request.headers.get("authorization") != "Bearer sesame":
        return PlainTextResponse("who are you?", status_code=401)
    if request.cookies.get("csrftoken") != "abc":
        return PlainTextResponse("no token", status_code=403)
    return PlainTextResponse("tables")


app = Starlette(routes=[Route("/api/tables/", tables)])
'''


def test_a_header_rule_is_sent_with_every_request_of_its_routes(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(guarded=GUARDED)
    pytester.makeini("""
        [pytest]
        disconnect_sweep_routes =
            * /*: header=Authorization: Bearer wrong
            * /api/*: header=authorization: Bearer sesame, header=Cookie: csrftoken=abc; theme=dark
    """)

    result = pytester.runpytest("--disconnect-sweep=guarded:app", "-rA")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["GET /api/tables/: * moments tried with GET /api/tables/, *"])


@pytest.mark.parametrize(("line", "error"), [
    ("* /*: header=Authorization", "header expected 'NAME: VALUE', e.g. header=Authorization: Bearer t0ken, "
     "not 'Authorization'"),
    ("* /*: header=: x", "header expected 'NAME: VALUE', e.g. header=Authorization: Bearer t0ken, not ': x'"),
])
def test_a_header_rule_needs_a_name_and_a_value(line: str, error: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse([line], "in pytest.ini")

    assert str(caught.value).endswith(error)


class Movie(BaseModel):
    """A body model at module level, where FastAPI resolves this file's string annotations."""

    name: str


def test_a_mounted_fastapi_app_s_schema_gives_its_routes_bodies() -> None:
    # Piccolo's admin mounts its FastAPI API at /api, behind middleware: only the outer app's
    # schema was read, so 39 POST, PUT and PATCH routes were sent no body and skipped with 422.
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.routing import Mount

    from pytest_disconnect._asgi.routes import list_routes

    api = FastAPI()

    @api.post("/tables/movie/")
    async def create(movie: Movie) -> str:
        return movie.name

    app = Starlette(routes=[Mount("/api", app=GZipMiddleware(api))])

    (route,) = [route for route in list_routes(app) if route.path == "/api/tables/movie/"]
    operation = route.operation("POST")
    assert operation is not None and "requestBody" in operation


# Piccolo's admin serves its API's schema behind the same login as the API.
LOGGED_IN_API = '''
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount


class Movie(BaseModel):
    name: str


api = FastAPI()


@api.post("/tables/movie/")
async def create(movie: Movie) -> str:
    return movie.name


class LoginRequired:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope["headers"])
        if scope["type"] == "http" and headers.get(b"authorization") != b"Bearer sesame":
            return await PlainTextResponse("who are you?", status_code=401)(scope, receive, send)
        return await self.app(scope, receive, send)


app = Starlette(routes=[Mount("/api", app=LoginRequired(api))])
'''


def test_the_schema_behind_a_login_is_read_with_the_header_rules(pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(logged_in=LOGGED_IN_API)
    pytester.makeini("""
        [pytest]
        disconnect_sweep_routes = * /api/*: header=Authorization: Bearer sesame
    """)

    result = pytester.runpytest("--disconnect-sweep=logged_in:app", "-rA")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['POST /api/tables/movie/: * moments tried with POST /api/tables/movie/ with JSON '
                                 '{"name": ""}, *'])
