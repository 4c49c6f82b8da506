"""--disconnect-audit on a Litestar suite: TestClient and AsyncTestClient, through pytester.

The requests go through a DisconnectTransport on the Litestar client's own portal, so the app
runs on the loop its lifespan ran on; websockets keep Litestar's own session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("litestar")

# Imported out here: pytester's in-process runs drop modules first imported inside a run, and
# the audit patches the Litestar transport class the suite's TestClient then uses.
import litestar.testing  # noqa: F401

import pytest_disconnect._fronts.audit
import pytest_disconnect._fronts.transport  # noqa: F401

# Generous: /fast and /state answer long before the client leaves, even on a loaded machine.
AUDIT = ("--disconnect-audit", "--disconnect-after=0.5", "--disconnect-tolerance=0.1",
         "--disconnect-patience=0.5", "-rsf")

SERVICE = '''
import threading
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar, Request, get, websocket
from litestar.connection import WebSocket
from litestar.datastructures import State
from litestar.response import Stream


@asynccontextmanager
async def lifespan(app):
    app.state.greeting = "hello"
    app.state.thread = threading.get_ident()  # the loop's thread: handlers must run on it
    yield


@get("/fast")
async def fast() -> str:
    return "fast"


@get("/state")
async def state(state: State) -> dict:
    return {"greeting": state.greeting, "same_thread": state.thread == threading.get_ident()}


@get("/careful")
async def careful(request: Request) -> str:
    async with anyio.create_task_group() as group:
        async def watch():
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()
        group.start_soon(watch)
        await anyio.sleep(1.0)
        group.cancel_scope.cancel()
    return "careful"


@get("/careless")
async def careless() -> str:
    await anyio.sleep(1.0)
    return "careless"


async def ticks():
    while True:
        yield b"tick\\n"
        await anyio.sleep(0.05)


@get("/feed")
async def feed() -> Stream:
    return Stream(ticks())


@websocket("/echo")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send_text(await socket.receive_text())
    await socket.close()


app = Litestar([fast, state, careful, careless, feed, echo], lifespan=[lifespan], logging_config=None)
'''

SYNC = '''
import pytest
from litestar.testing import TestClient
from service import app


@pytest.fixture(params=["asyncio", "trio"])
def client(request):
    with TestClient(app, backend=request.param) as client:
        yield client


def test_fast(client):
    assert client.get("/fast").text == "fast"


def test_state(client):
    assert client.get("/state").json() == {"greeting": "hello", "same_thread": True}


def test_careful(client):
    assert client.get("/careful").text == "careful"


def test_careless(client):
    assert client.get("/careless").text == "careless"


@pytest.mark.disconnect(audit=False)
def test_exempt(client):
    assert client.get("/careless").text == "careless"


def test_websocket(client):
    with client.websocket_connect("/echo") as socket:
        socket.send_text("hi")
        assert socket.receive_text() == "hi"


def test_outside_with():
    assert TestClient(app).get("/fast").text == "fast"
'''

ASYNC = '''
import pytest
from litestar.testing import AsyncTestClient
from service import app

pytestmark = pytest.mark.anyio


# (the test's loop, the client's): Litestar 2.25's AsyncTestClient hangs entering trio from trio.
@pytest.fixture(params=[("asyncio", "asyncio"), ("asyncio", "trio"), ("trio", "asyncio")])
def loops(request):
    return request.param


@pytest.fixture
def anyio_backend(loops):
    return loops[0]


@pytest.fixture
async def client(loops):
    async with AsyncTestClient(app, backend=loops[1]) as client:
        yield client


async def test_fast(client):
    assert (await client.get("/fast")).text == "fast"


async def test_state(client):
    assert (await client.get("/state")).json() == {"greeting": "hello", "same_thread": True}


async def test_careful(client):
    assert (await client.get("/careful")).text == "careful"


async def test_careless(client):
    assert (await client.get("/careless")).text == "careless"


async def test_streamed(client):
    async with client.stream("GET", "/fast") as response:
        assert b"".join([part async for part in response.aiter_bytes()]) == b"fast"
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE)
    return pytester


def test_the_sync_client_is_audited_on_both_backends(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_sync=SYNC)
    result = suite.runpytest(*AUDIT)
    # Per backend: fast, state, exempt, websocket pass; careful skips (it stopped); careless fails.
    result.assert_outcomes(passed=9, skipped=2, failed=2)
    result.stdout.fnmatch_lines(["*disconnect audit passed: GET /careful stopped*",
                                 "FAILED test_sync.py::test_careless[[]asyncio[]] - *HandlerKeptRu*",
                                 "FAILED test_sync.py::test_careless[[]trio[]] - *HandlerKeptRu*"])
    result.stdout.fnmatch_lines(["GET /careless * 2 * 2 * 0 * FAILED",
                                 "GET /careful * 2 * 2 * 2 * stopped"])


def test_the_async_client_is_audited(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_async=ASYNC)
    result = suite.runpytest(*AUDIT)
    result.assert_outcomes(passed=9, skipped=3, failed=3)
    result.stdout.fnmatch_lines(["GET /careless * 3 * 3 * 0 * FAILED"])


def test_without_the_flag_a_litestar_suite_runs_as_before(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_sync=SYNC)
    suite.runpytest("--disconnect-tolerance=0.1").assert_outcomes(passed=13)


def test_a_response_left_open_is_closed_by_the_end_of_the_clients_with(suite: pytest.Pytester) -> None:
    # Litestar's own responses are whole; an audited one streams, and the test may leave it open.
    suite.makepyfile(test_open='''
from litestar.testing import TestClient
from service import app

def test_left_open():
    with TestClient(app) as client:
        response = client.send(client.build_request("GET", "/feed"), stream=True)
        assert response.status_code == 200
''')
    result = suite.runpytest("--disconnect-audit", "--disconnect-tolerance=0.5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["GET /feed * 1 * 1 * 1 * stopped"])
    result.stdout.no_fnmatch_line("*never reached a verdict*")


def test_the_audit_without_a_moment_lets_every_request_finish(suite: pytest.Pytester) -> None:
    # No --disconnect-after: the client leaves only when it gives up, and these never do.
    suite.makepyfile(test_sync=SYNC)
    result = suite.runpytest("--disconnect-audit", "--disconnect-tolerance=0.1")
    result.assert_outcomes(passed=13)
    result.stdout.no_fnmatch_line("*nothing was audited*")


def test_a_warning_on_importing_a_patched_library_does_not_stop_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Starlette 1.x warns when its TestClient module is imported without httpx2; a suite with
    # `filterwarnings = error` (Litestar's own) stopped with INTERNALERROR before its first test.
    import warnings

    from pytest_disconnect._fronts import audit

    package = tmp_path / "warns_on_import"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "client.py").write_text("import warnings\nwarnings.warn('use httpx2', DeprecationWarning)\n")
    (package / "broken.py").write_text("raise RuntimeError('needs httpx or httpx2')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert audit._imported("warns_on_import", "warns_on_import.client").__name__ == "warns_on_import.client"
        assert audit._imported("warns_on_import", "warns_on_import.broken") is None
        assert audit._imported("not_installed_anywhere", "not_installed_anywhere.client") is None


@pytest.mark.parametrize("audit", [(), ("--disconnect-audit",)])
def test_an_app_without_a_response_answers_as_litestars_client_does(
        suite: pytest.Pytester, audit: tuple[str, ...]) -> None:
    # The same outcome with and without the audit: Litestar's words are Starlette's.
    suite.makepyfile(test_none='''
import pytest
from litestar.testing import TestClient

async def silent(scope, receive, send):
    pass

async def broken(scope, receive, send):
    raise RuntimeError("broken")

def test_raises():
    with pytest.raises(AssertionError, match="TestClient did not receive any response"):
        TestClient(silent).get("/")

def test_broken_is_an_empty_500():
    response = TestClient(broken, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.content) == (500, b"")
''')
    suite.runpytest(*audit).assert_outcomes(passed=2)
