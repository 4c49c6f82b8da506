"""Audit mode through pytester: an ordinary httpx suite, the transport swapped, run with --disconnect-after."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

# Imported out here: pytester's in-process runs drop modules first imported inside a run,
# and the package caches DisconnectTransport (and through it httpx) on first use.
import pytest_disconnect._fronts.transport  # noqa: F401

SERVICE = '''
import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

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
        await anyio.sleep(0.5)
        group.cancel_scope.cancel()
    return PlainTextResponse("careful")

async def careless(request):
    """Works on for a client that left."""
    await anyio.sleep(0.5)
    return PlainTextResponse("careless")

app = Starlette(routes=[Route("/fast", fast), Route("/careful", careful),
                        Route("/careless/{n}", careless)])
'''

# An ordinary httpx-based suite; the audit changes only the transport line.
SUITE = '''
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

pytestmark = pytest.mark.anyio

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.fixture
async def client():
    transport = DisconnectTransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client

async def test_fast(client):
    assert (await client.get("/fast")).text == "fast"

async def test_careful(client):
    assert (await client.get("/careful")).text == "careful"

async def test_careless(client):
    assert (await client.get("/careless/1")).text == "careless"
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE, test_suite=SUITE)
    return pytester


def test_without_the_audit_the_suite_passes_and_says_nothing(suite: pytest.Pytester) -> None:
    result = suite.runpytest()
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*disconnect summary*")


def test_the_audit_fails_exactly_the_endpoints_that_keep_working(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--disconnect-after=0.1", "--disconnect-tolerance=0.1",
                             "--disconnect-patience=0.2", "-rfs")
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    result.stdout.fnmatch_lines([
        "FAILED test_suite.py::test_careless - pytest_disconnect.HandlerKeptRunning*",
    ])
    result.stdout.fnmatch_lines([
        "SKIPPED * test_suite.py:*: disconnect audit passed: GET /careful stopped * after http.disconnect*"
        "the client left at 0.10 s (--disconnect-after), so there is no response to check",
    ])
    result.stdout.fnmatch_lines([
        "*= disconnect summary =*",
        "endpoint *requests  disconnected  looked  worst stop latency  verdict",
        "GET /careless/{n} * 1 * 1 * > 2??.? ms  cancelled FAILED",
        "GET /careful * 1 * 1 * ms  stopped",
        "GET /fast * 1 * 0 * -  finished",
        "",
        "3 endpoints, 1 with a failing verdict",
        "run-wide settings: after=0.10 s (--disconnect-after), tolerance=0.10 s (--disconnect-tolerance), *",
    ])


def test_a_marker_sets_the_moment_for_one_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_marked='''
import pytest
from test_suite import client, anyio_backend

pytestmark = pytest.mark.anyio

@pytest.mark.disconnect(after=0.05, tolerance=0.1, patience=0.2)
async def test_careless(client):
    await client.get("/careless/2")
''')
    result = suite.runpytest("test_marked.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*after=0.05 s (@pytest.mark.disconnect on test_marked.py::test_careless)*"])


def test_the_summary_goes_to_junit_xml_as_properties(suite: pytest.Pytester) -> None:
    suite.runpytest("--disconnect-after=0.1", "--disconnect-tolerance=0.1", "--disconnect-patience=0.2",
                    "--junitxml=report.xml")
    cases = {case.get("name"): case for case in ET.parse(suite.path / "report.xml").iter("testcase")}
    properties = {case: {prop.get("name"): prop.get("value") for prop in cases[case].iter("property")}
                  for case in cases}
    assert properties["test_fast"] == {
        "disconnect GET /fast": "requests=1; disconnected=0; looked=0; verdict=finished; worst_latency_s="}
    [(name, value)] = properties["test_careless"].items()
    assert name == "disconnect GET /careless/{n}"
    assert value is not None and value.startswith(
        "requests=1; disconnected=1; looked=0; verdict=cancelled; worst_latency_s=>0.2")


def test_the_summary_is_gathered_from_xdist_workers(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-n", "2", "--disconnect-after=0.1", "--disconnect-tolerance=0.1",
                                        "--disconnect-patience=0.2")
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*= disconnect summary =*", "GET /careless/{n} *cancelled FAILED",
                                 "GET /careful *stopped", "GET /fast *finished"])


def test_the_client_fixture_talks_to_the_asgi_app_fixture(suite: pytest.Pytester) -> None:
    suite.makeconftest('''
import pytest
from service import app

@pytest.fixture
def asgi_app():
    return app
''')
    suite.makepyfile(test_fixture='''
import pytest

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_it(disconnect_client):
    assert (await disconnect_client.get("/fast")).text == "fast"
''')
    suite.runpytest("test_fixture.py").assert_outcomes(passed=2)


def test_the_client_fixture_without_an_app_says_what_to_define(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_fixture='''
def test_it(disconnect_client):
    pass
''')
    result = suite.runpytest("test_fixture.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*disconnect_client needs your app: define a fixture named asgi_app*"])


def test_an_audit_that_audited_nothing_says_so(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE, test_suite=SUITE.replace(
        "transport = DisconnectTransport(app)", "transport = httpx.ASGITransport(app=app)"))
    result = pytester.runpytest("--disconnect-after=0.1")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["disconnect: after=0.10 s (--disconnect-after) was set, but no request went "
                                 "through DisconnectTransport or the disconnect fixture: nothing was audited*"])


@pytest.mark.parametrize("options", [("--disconnect-audit",), ("--disconnect-audit", "--disconnect-after=0.1")])
def test_an_audit_of_a_client_it_does_not_patch_says_which_it_patches(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...]) -> None:
    # A suite whose test client is none of those patched (Quart's,
    # Django's): the audit was on and saw nothing, and must not tell the user to switch it on.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE, test_own_client='''
import anyio
from service import app

def test_direct():
    sent = []
    async def receive():
        return {"type": "http.request", "body": b""}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": "/fast", "raw_path": b"/fast", "query_string": b"",
             "headers": [], "root_path": "", "scheme": "http", "http_version": "1.1", "asgi": {"version": "3.0"}}
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 200
''')
    result = pytester.runpytest(*options)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["disconnect: the audit was on (--disconnect-audit), but no request went through "
                                 "Starlette's TestClient, Litestar's TestClient or an httpx ASGITransport: "
                                 "nothing was audited*"
                                 "use the disconnect fixture or DisconnectTransport*"])
    result.stdout.no_fnmatch_line("*add --disconnect-audit*")


def test_a_response_left_open_by_the_client_fixture_is_a_warning(suite: pytest.Pytester) -> None:
    # A response still coming when the test ends (one whole by its head is judged at once).
    suite.makeconftest('''
import anyio
import pytest
from starlette.responses import StreamingResponse

async def drip(scope, receive, send):
    async def parts():
        yield b"first"
        await anyio.sleep(0.5)
        yield b"last"
    await StreamingResponse(parts())(scope, receive, send)

@pytest.fixture
def asgi_app():
    return drip
''')
    suite.makepyfile(test_open='''
import pytest

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_it(disconnect_client):
    response = await disconnect_client.send(disconnect_client.build_request("GET", "/drip"), stream=True)
    assert response.status_code == 200
''')
    result = suite.runpytest_subprocess("test_open.py")  # in-process, the outer run's -W error applies
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*1 response(s) from disconnect_client were never read to the end or closed*"])


def test_the_audit_skips_only_requests_whose_work_stopped(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_more='''
import anyio
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

pytestmark = pytest.mark.anyio

@pytest.fixture
def anyio_backend():
    return "asyncio"

async def test_two_careful_requests_at_once():
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.get, "/careful")
            group.start_soon(client.get, "/careful")

async def test_a_careless_request_with_check_off():
    transport = DisconnectTransport(app, check=False, tolerance=0.1, patience=0.2)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/careless/1")
''')
    result = suite.runpytest("test_more.py", "--disconnect-after=0.1", "-rfs")
    result.assert_outcomes(skipped=1, failed=1)
    # Both requests leave at 0.1 s; the first ClientLeft cancels the task group, so on a loaded
    # machine the other request may be cancelled before it reports: one reason or two.
    result.stdout.fnmatch_lines(["SKIPPED * disconnect audit passed: GET /careful stopped *"])
    result.stdout.fnmatch_lines(["FAILED test_more.py::test_a_careless_request_with_check_off*"])
    assert "ClientLeft: GET /careless/1 kept running" in result.stdout.str()
