"""--disconnect-audit: an unmodified TestClient suite and an unmodified ASGITransport suite, audited."""

from __future__ import annotations

import pytest

# Imported out here: pytester's in-process runs drop modules first imported inside a run.
import pytest_disconnect._fronts.audit
import pytest_disconnect._fronts.transport

SERVICE = '''
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

@asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello"}

async def fast(request):
    return PlainTextResponse("fast")

async def careful(request):
    """Stops when the client leaves."""
    async with anyio.create_task_group() as group:
        async def watch():
            while not await request.is_disconnected():
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        group.start_soon(watch)
        await anyio.sleep(1)
        group.cancel_scope.cancel()
    return PlainTextResponse("careful")

async def careless(request):
    """Works on for a client that left."""
    await anyio.sleep(1)
    return PlainTextResponse("careless")

async def greet(request):
    return PlainTextResponse(request.state.greeting)

async def login(request):
    response = RedirectResponse("/whoami", status_code=303)
    response.set_cookie("user", "ada")
    return response

async def whoami(request):
    return PlainTextResponse(request.cookies.get("user", "nobody"))

async def lines(request):
    async def chunks():
        for n in range(3):
            yield f"{n}\\n"
    return StreamingResponse(chunks())

async def boom(request):
    raise ValueError("boom")

import jinja2
from starlette.templating import Jinja2Templates

templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.DictLoader({"page.html": "<p>{{ name }}</p>"})))

async def page(request):
    return templates.TemplateResponse(request, "page.html", {"name": "ada"})

async def echo(websocket):
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()

app = Starlette(lifespan=lifespan, routes=[
    Route("/fast", fast), Route("/careful", careful), Route("/careless/{n}", careless), Route("/greet", greet),
    Route("/login", login, methods=["POST"]), Route("/whoami", whoami), Route("/lines", lines), Route("/boom", boom),
    Route("/page", page),
    WebSocketRoute("/ws", echo)])
'''

TESTCLIENT_SUITE = '''
import pytest
from starlette.testclient import TestClient
from service import app

client = TestClient(app)

@pytest.fixture
def with_lifespan():
    with TestClient(app) as client:
        yield client

def test_fast():
    assert client.get("/fast").text == "fast"

def test_careful():
    assert client.get("/careful").text == "careful"

def test_careless():
    assert client.get("/careless/1").text == "careless"

def test_lifespan_state(with_lifespan):
    assert with_lifespan.get("/greet").text == "hello"

def test_cookies_and_redirects(with_lifespan):
    assert with_lifespan.post("/login").text == "ada"

def test_stream(with_lifespan):
    with with_lifespan.stream("GET", "/lines") as response:
        assert list(response.iter_lines()) == ["0", "1", "2"]

def test_server_exceptions():
    with pytest.raises(ValueError, match="boom"):
        client.get("/boom")
    assert TestClient(app, raise_server_exceptions=False).get("/boom").status_code == 500

def test_template(with_lifespan):
    response = with_lifespan.get("/page")
    assert response.text == "<p>ada</p>"
    assert response.template.name == "page.html" and response.context["name"] == "ada"

def test_websocket(with_lifespan):
    with with_lifespan.websocket_connect("/ws") as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "hi"
'''

ASGI_SUITE = '''
import httpx
import pytest
from service import app

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client

async def test_fast(client):
    assert (await client.get("/fast")).text == "fast"

async def test_careful(client):
    assert (await client.get("/careful")).text == "careful"

async def test_careless(client):
    assert (await client.get("/careless/1")).text == "careless"

async def test_errors_as_a_500():
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/boom")).status_code == 500
'''

AUDIT = ("--disconnect-audit", "--disconnect-after=0.2", "--disconnect-tolerance=0.1",
         "--disconnect-patience=0.3", "-rfs")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE, test_testclient=TESTCLIENT_SUITE, test_asgi=ASGI_SUITE)
    return pytester


def test_without_the_flag_both_suites_run_as_before_and_nothing_is_patched(project: pytest.Pytester) -> None:
    result = project.runpytest("--disconnect-after=0.2")
    result.assert_outcomes(passed=13)
    result.stdout.no_fnmatch_line("*disconnect summary*")
    assert not pytest_disconnect._fronts.audit.LEASE.installed


@pytest.mark.parametrize("suite", ["test_testclient.py", "test_asgi.py"])
def test_the_audit_fails_exactly_the_endpoint_that_ignores_the_disconnect(project: pytest.Pytester,
                                                                          suite: str) -> None:
    result = project.runpytest(suite, *AUDIT)
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed"), outcomes.get("skipped"), outcomes.get("error")) == (1, 1, None)
    result.stdout.fnmatch_lines([f"FAILED {suite}::test_careless* - pytest_disconnect.HandlerKept*"])
    result.stdout.fnmatch_lines(["E *HandlerKeptRunning: GET /careless/1 kept running *"])
    result.stdout.fnmatch_lines([f"SKIPPED * {suite}:*: disconnect audit passed: GET /careful stopped *"])
    result.stdout.fnmatch_lines(["*= disconnect summary =*"])
    summary = result.stdout.str().split("disconnect summary", 1)[1]
    for endpoint in ("GET /careless/{n}", "GET /careful", "GET /fast", "GET /boom"):
        assert f"\n{endpoint} " in summary, endpoint
    if suite == "test_testclient.py":
        for endpoint in ("GET /greet", "POST /login", "GET /whoami", "GET /lines", "GET /page"):
            assert f"\n{endpoint} " in summary, endpoint
    assert not pytest_disconnect._fronts.audit.LEASE.installed  # removed at the session's end


def test_a_marker_exempts_a_test_and_an_ini_value_turns_the_audit_on(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ndisconnect_audit = on\n")
    project.makepyfile(test_exempt='''
import pytest
from test_testclient import client

@pytest.mark.disconnect(audit=False)
def test_careless():
    assert client.get("/careless/1").text == "careless"
''')
    result = project.runpytest("test_exempt.py", *AUDIT[1:])
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["disconnect: *, audit=on (disconnect_audit in tox.ini)"])
    off = project.runpytest("test_exempt.py", *AUDIT[1:], "--no-disconnect-audit")
    assert off.parseoutcomes() == {"passed": 1}
    off.stdout.no_fnmatch_line("*disconnect summary*")


def test_the_flag_takes_no_value_so_a_path_after_it_is_a_path(project: pytest.Pytester) -> None:
    # `pytest --disconnect-audit tests/` must audit tests/, not read "tests/" as the flag's value.
    result = project.runpytest("--disconnect-audit", "test_testclient.py", *AUDIT[1:])
    result.stdout.fnmatch_lines(["disconnect: *audit=on (--disconnect-audit)*"])
    result.stdout.fnmatch_lines(["FAILED test_testclient.py::test_careless* - pytest_disconnect.HandlerKept*"])
    assert "test_asgi.py" not in result.stdout.str()  # only the path given was collected
    late = project.runpytest("test_testclient.py", *AUDIT[1:], "--no-disconnect-audit", "--disconnect-audit")
    late.stdout.fnmatch_lines(["*audit=on (--disconnect-audit)*"])  # the last one given wins


def test_the_audit_works_under_xdist(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-n", "2", *AUDIT)
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed"), outcomes.get("skipped")) == (2, 2)
    result.stdout.fnmatch_lines(["*= disconnect summary =*", "GET /careless/{n} *FAILED"])
