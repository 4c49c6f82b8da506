"""Lifespan and wrong routes as users see them: the option in every source, teardown, the failure."""

from __future__ import annotations

import pytest

from pytest_disconnect._asgi.wrong_route import ADVICE

APP = '''
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

EVENTS = []


@asynccontextmanager
async def lifespan(app):
    EVENTS.append("startup")
    yield {"name": "shop"}
    EVENTS.append("shutdown")
    if app.state.fail_shutdown:
        raise RuntimeError("pool would not close")


async def hello(request: Request):
    return PlainTextResponse(getattr(request.state, "name", "no state"))


app = Starlette(lifespan=lifespan, routes=[Route("/hello", hello)])
app.state.fail_shutdown = False
'''


@pytest.fixture(autouse=True)
def quiet_pytest_asyncio(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function -p no:randomly")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP)
    return pytester


def test_startup_before_the_first_request_shutdown_after_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
from app import EVENTS, app

def test_one(disconnect):
    assert disconnect.run(app, "GET", "/hello", after=1.0).body == b"shop"
    assert disconnect.run(app, "GET", "/hello", after=1.0).body == b"shop"
    assert EVENTS == ["startup"]

def test_two(disconnect):
    assert EVENTS == ["startup", "shutdown"]
''')
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.parametrize(("args", "ini", "marker", "body"), [
    ((), "", "", b"shop"),
    (("--disconnect-lifespan=off",), "", "", b"no state"),
    ((), "disconnect_lifespan = off", "", b"no state"),
    (("--disconnect-lifespan=on",), "disconnect_lifespan = off", "", b"shop"),
    (("--disconnect-lifespan=off",), "", "@pytest.mark.disconnect(lifespan='on')", b"shop"),
    ((), "", "@pytest.mark.disconnect(lifespan='off')", b"no state"),
])
def test_the_option_from_every_source(project: pytest.Pytester, args: tuple[str, ...], ini: str, marker: str,
                                      body: bytes) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    project.makepyfile(test_it=f'''
import pytest
from app import app

{marker}
def test_it(disconnect):
    assert disconnect.run(app, "GET", "/hello", after=1.0).body == {body!r}
''')
    project.runpytest(*args).assert_outcomes(passed=1)


def test_a_bad_value_names_its_source(project: pytest.Pytester) -> None:
    result = project.runpytest("--disconnect-lifespan=maybe")
    result.stderr.fnmatch_lines(["ERROR: invalid --disconnect-lifespan 'maybe' on the command line: "
                                 "expected one of auto, on, off"])


def test_a_shutdown_failure_is_the_tests_teardown_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
from app import app

def test_it(disconnect):
    app.state.fail_shutdown = True
    disconnect.run(app, "GET", "/hello", after=1.0)
''')
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_it*", "*LifespanError: the Starlette app: lifespan "
                                 "shutdown failed after the test.*"])


def test_a_typo_in_the_path_fails(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
from app import app

def test_it(disconnect):
    disconnect.run(app, "GET", "/no-such-path", after=0.5)
''')
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E       pytest_disconnect.WrongRoute: GET /no-such-path was answered 404 Not Found: no route of the app "
        "matches the path, so no handler ran and the disconnect was never tested",
        "E       ",
        "E         The app's routes:",
        "E           GET /hello",
        "E       ",
        f"E         {ADVICE.format(status=404)}",
    ], consecutive=True)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_arun_shuts_down_when_the_tests_loop_ends(project: pytest.Pytester, backend: str) -> None:
    project.makepyfile(test_it=f'''
import pytest
from app import EVENTS, app

@pytest.fixture
def anyio_backend():
    return {backend!r}

@pytest.mark.anyio
async def test_one(disconnect):
    assert (await disconnect.arun(app, "GET", "/hello", after=1.0)).body == b"shop"
    assert (await disconnect.arun(app, "GET", "/hello", after=1.0)).body == b"shop"
    assert EVENTS == ["startup"]

def test_two():
    assert EVENTS == ["startup", "shutdown"]
''')
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_arun_under_pytest_asyncio(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
import pytest
from app import EVENTS, app

@pytest.mark.asyncio
async def test_one(disconnect):
    assert (await disconnect.arun(app, "GET", "/hello", after=1.0)).body == b"shop"
    assert EVENTS == ["startup"]

def test_two():
    assert EVENTS == ["startup", "shutdown"]
''')
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_an_arun_shutdown_failure_is_the_tests_teardown_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
import pytest
from app import app

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_it(disconnect):
    app.state.fail_shutdown = True
    await disconnect.arun(app, "GET", "/hello", after=1.0)
''')
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_it*"])


def test_arun_on_a_loop_kept_for_the_module_shuts_down_at_the_tests_teardown(project: pytest.Pytester) -> None:
    project.makepyfile(test_it='''
import pytest
from app import EVENTS, app

@pytest.mark.asyncio(loop_scope="module")
async def test_one(disconnect):
    assert (await disconnect.arun(app, "GET", "/hello", after=1.0)).body == b"shop"

def test_two():
    assert EVENTS == ["startup", "shutdown"]  # the module's loop is still open, and idle

@pytest.mark.asyncio(loop_scope="module")
async def test_three(disconnect):
    assert (await disconnect.arun(app, "GET", "/hello", after=1.0)).body == b"shop"
    assert EVENTS == ["startup", "shutdown", "startup"]
''')
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
