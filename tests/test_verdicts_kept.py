"""Verdicts are never lost: whatever happens to the caller, each request's verdict reaches the
test's outcome, the end-of-run summary and the JUnit properties."""

from __future__ import annotations

import anyio
import httpx
import pytest

# Imported out here: pytester's in-process runs drop modules first imported inside a run.
import pytest_disconnect._fronts.transport  # noqa: F401
from pytest_disconnect import DisconnectTransport, HandlerKeptRunning

from .apps import ignores_disconnect

SERVICE = '''
import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

async def careful(request):
    async with anyio.create_task_group() as group:
        async def watch():
            while not await request.is_disconnected():
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        group.start_soon(watch)
        await anyio.sleep(0.5)
        group.cancel_scope.cancel()
    return PlainTextResponse("careful")

async def slow(request):
    await anyio.sleep(0.5)
    return PlainTextResponse("slow")

async def drip(request):
    async def parts():
        yield b"first"
        await anyio.sleep(0.5)
        yield b"last"
    return StreamingResponse(parts())

app = Starlette(routes=[Route("/careful", careful), Route("/slow", slow), Route("/drip", drip)])
'''


@pytest.fixture
def service(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(service=SERVICE)
    return pytester


@pytest.mark.anyio
async def test_a_caller_cancelled_after_the_client_left_still_gets_the_verdict() -> None:
    transport = DisconnectTransport(ignores_disconnect, after=0, tolerance=0.05, patience=0.2)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with pytest.raises(HandlerKeptRunning), anyio.move_on_after(0.1):
            await client.get("/")  # the client left at once, before http.response.start
        assert [result.verdict for result in transport.results] == ["cancelled"]


def test_a_cancelled_caller_in_an_asyncio_fixture_fails_in_the_call_phase(service: pytest.Pytester) -> None:
    service.makepyfile(test_it='''
import anyio
import httpx
import pytest
import pytest_asyncio
from pytest_disconnect import DisconnectTransport
from service import app

@pytest_asyncio.fixture
async def client():
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        yield client

@pytest.mark.asyncio
async def test_slow(client):
    with anyio.move_on_after(0.2):
        await client.get("/slow")
''')
    result = service.runpytest_subprocess("--disconnect-after=0", "--disconnect-tolerance=0.05",
                                          "--disconnect-patience=0.3", "-p", "asyncio")
    result.assert_outcomes(failed=1)  # not a teardown error, not a raw CancelledError
    result.stdout.fnmatch_lines(["FAILED test_it.py::test_slow - pytest_disconnect.HandlerKeptRunning*"])
    result.stdout.fnmatch_lines(["*= disconnect summary =*", "GET /slow *cancelled FAILED"])
    result.stdout.no_fnmatch_line("*nothing was audited*")


def test_a_failing_fixture_finalizer_does_not_lose_the_summary(service: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    service.makepyfile(test_it='''
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_careful(broken_teardown):
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        await client.get("/careful")
''')
    result = service.runpytest("--disconnect-after=0.1", "--junitxml=report.xml")
    result.assert_outcomes(skipped=1, errors=1)
    result.stdout.fnmatch_lines(["*= disconnect summary =*", "GET /careful *stopped"])
    assert 'name="disconnect GET /careful"' in (service.path / "report.xml").read_text()


def test_a_finally_that_replaces_client_left_keeps_the_verdict(service: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    service.makepyfile(test_it='''
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

async def test_careful():
    response = None
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        try:
            response = await client.get("/careful")
        finally:
            assert response is not None, "no response"

async def test_slow():
    response = None
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        try:
            response = await client.get("/slow")
        finally:
            assert response is not None, "no response"
''')
    result = service.runpytest("--disconnect-after=0.1", "--disconnect-tolerance=0.05",
                               "--disconnect-patience=0.2", "-rfs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines([
        "SKIPPED * disconnect audit passed: GET /careful stopped *; the test's own AssertionError "
        "(no response*) replaced ClientLeft*"])
    result.stdout.fnmatch_lines(["*pytest-disconnect: this replaced HandlerKeptRunning: GET /slow kept running*"])
    result.stdout.fnmatch_lines(["*= disconnect summary =*", "GET /slow *FAILED", "GET /careful *stopped"])


def test_a_finally_over_a_task_group_of_client_left_keeps_the_verdict(service: pytest.Pytester,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in a real suite: the request in a task group, the test's finally asserting on what it expected."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    service.makepyfile(test_it='''
import anyio
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_careful():
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        with anyio.fail_after(1) as scope:
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(client.get, "/careful")
            finally:
                assert scope.cancel_called
''')
    result = service.runpytest("--disconnect-after=0.1", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * disconnect audit passed: GET /careful stopped *; the test's own "
                                 "AssertionError (*) replaced ClientLeft*"])


def test_a_request_whose_test_ended_first_is_named_not_lost(service: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    service.makepyfile(test_it='''
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_left_open():
    client = httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t")
    response = await client.send(client.build_request("GET", "/drip"), stream=True)
    assert response.status_code == 200  # neither read to the end nor closed, and the client never closed
''')
    result = service.runpytest("--junitxml=report.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["disconnect: 1 request(s) never reached a verdict, since their test ended first*: "
                                 "GET /drip (test_it.py::test_left_open[[]asyncio[]])"])
    assert 'name="disconnect-unjudged" value="GET /drip"' in (service.path / "report.xml").read_text()
