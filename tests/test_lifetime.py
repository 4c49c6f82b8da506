"""App-lifetime work is not request work: the built-in list (sse-starlette) and disconnect_allow."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

import anyio
import pytest
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pytest_disconnect import Disconnect
from pytest_disconnect._report.text import LIFETIME_DOCS as LIFETIME
from pytest_disconnect._settings import Settings, Source, apply
from pytest_disconnect._watch.lifetime import KNOWN, known_infrastructure

from .apps import read_body, respond

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # sse-starlette on newer Starlette


async def _ticks(count: float) -> AsyncIterator[dict[str, str]]:
    sent = 0
    while sent < count:
        yield {"data": str(sent)}
        sent += 1
        await anyio.sleep(0.05)


async def _endless(request: Request) -> Response:
    return EventSourceResponse(_ticks(float("inf")))


async def _three(request: Request) -> Response:
    return EventSourceResponse(_ticks(3))


sse_app = Starlette(routes=[Route("/events", _endless), Route("/three", _three)])


def _watchers(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks(loop) if known_infrastructure(task.get_coro()) is not None]


def test_the_built_in_list() -> None:
    assert [(entry.library, entry.kind, entry.module, entry.function) for entry in KNOWN] == [
        ("sse-starlette", "task", "sse_starlette.sse", "_shutdown_watcher"),
        ("datasette", "thread", "datasette.database", "Database._execute_writes")]


@pytest.mark.parametrize("live", ["off", "fin"])
@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_an_sse_stream_that_stops_is_stopped_in_process_and_live(disconnect: Disconnect, server: str,
                                                                 live: str) -> None:
    result = disconnect.run(sse_app, "GET", "/events", after=0.12, server=server, live=live, check=False)
    assert result.verdict == "stopped"  # not 'cancelled' after the whole patience
    [watcher] = [record for record in result.allowed if record.infrastructure is not None]
    assert watcher.name == "_shutdown_watcher" and watcher.ended_at is None  # not cancelled either
    assert watcher.infrastructure == "sse-starlette's per-loop shutdown watcher"


@pytest.mark.parametrize("live", ["off", "fin"])
def test_an_sse_stream_that_ends_with_no_disconnect_is_finished(disconnect: Disconnect, live: str) -> None:
    result = disconnect.run(sse_app, "GET", "/three", after="never", live=live, check=False)
    assert result.verdict == "finished"  # not 'leaked'
    assert result.body.count(b"data: ") == 3


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_harness_never_cancels_the_watcher(disconnect: Disconnect) -> None:
    """On one loop, every request after the first finds the same watcher running."""
    loop = asyncio.get_running_loop()
    first = await disconnect.arun(sse_app, "GET", "/events", after=0.12, check=False)
    watchers = _watchers(loop)
    second = await disconnect.arun(sse_app, "GET", "/events", after=0.12, check=False)
    assert (first.verdict, second.verdict) == ("stopped", "stopped")
    assert len(watchers) == 1 and _watchers(loop) == watchers and not watchers[0].done()
    assert [record.name for record in second.allowed] == []  # it belongs to no request after the first


# An app's own lazily started singleton --------------------------------------------------------

_refreshers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


async def refresh_cache() -> None:
    while True:
        await asyncio.sleep(0.5)


async def cached(scope: object, receive: object, send: object) -> None:
    """Starts one cache refresher per loop, on its first request: app-lifetime work."""
    loop = asyncio.get_running_loop()
    if loop not in _refreshers:
        _refreshers[loop] = loop.create_task(refresh_cache())
    await read_body(receive)  # type: ignore[arg-type]
    await respond(send)  # type: ignore[arg-type]


def test_a_lazily_started_singleton_fails_until_it_is_declared(disconnect: Disconnect) -> None:
    undeclared = disconnect.run(cached, "GET", "/", after="never", patience=0.2, check=False)
    assert undeclared.verdict == "leaked"
    declared = apply(Settings(), Source("ini", "pytest.ini"), {"allow": "refresh_cache"})
    disconnect.settings = declared
    result = disconnect.run(cached, "GET", "/", after="never", check=False)
    assert result.verdict == "finished"
    assert [record.name for record in result.allowed] == ["refresh_cache"]


INI_TEST = """
import asyncio
import weakref

import pytest

_refreshers = weakref.WeakKeyDictionary()


async def refresh_cache():
    while True:
        await asyncio.sleep(0.5)


async def app(scope, receive, send):
    loop = asyncio.get_running_loop()
    if loop not in _refreshers:
        _refreshers[loop] = loop.create_task(refresh_cache())
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.disconnect(after="never", patience=0.2)
def test_first(disconnect):
    disconnect.run(app, "GET", "/")


@pytest.mark.disconnect(after="never", patience=0.2)
def test_second(disconnect):
    disconnect.run(app, "GET", "/")
"""


def test_a_singleton_is_declared_once_for_the_whole_run_in_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndisconnect_allow = refresh_cache\n")
    pytester.makepyfile(INI_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*allow=refresh_cache (disconnect_allow in tox.ini)*"])


def test_a_singleton_is_declared_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INI_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "--disconnect-allow=refresh_cache")
    result.assert_outcomes(passed=2)


def test_undeclared_the_report_names_the_run_wide_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INI_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-k", "first")
    result.assert_outcomes(failed=1)
    assert ("Intended? Let it outlive the request: run(..., allow=['refresh_cache']); if it lives as long as the "
            "app, once for the run: disconnect_allow = refresh_cache in the ini file, or "
            f"--disconnect-allow=refresh_cache  ({LIFETIME})") in result.stdout.str()


AUDIT_TEST = """
import asyncio
import weakref

import httpx
import pytest

from pytest_disconnect import DisconnectTransport

_refreshers = weakref.WeakKeyDictionary()


async def refresh_cache():
    while True:
        await asyncio.sleep(0.5)


async def app(scope, receive, send):
    loop = asyncio.get_running_loop()
    if loop not in _refreshers:
        _refreshers[loop] = loop.create_task(refresh_cache())
    await receive()
    await asyncio.sleep(0.3)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_audited():
    async with httpx.AsyncClient(transport=DisconnectTransport(app, patience=0.3), base_url="http://t") as client:
        await client.get("/")
"""


@pytest.mark.parametrize(
    ("args", "advice"),
    [([], "Intended? Let it outlive the request: DisconnectTransport(app, allow=['refresh_cache']); if it lives"),
     (["--disconnect-after=0.1"], "Intended? If it lives as long as the app (a cache refresher, a pool reaper), "
                                  "declare it once for the run: disconnect_allow = refresh_cache in the ini file, "
                                  f"or --disconnect-allow=refresh_cache  ({LIFETIME})")],
)
def test_the_advice_fits_a_transport_and_an_audit(pytester: pytest.Pytester, args: list[str], advice: str) -> None:
    pytester.makepyfile(AUDIT_TEST.replace("patience=0.3", "patience=0.3, after=0.1" if not args else "patience=0.3"))
    # A subprocess: httpx imported afresh by an in-process run is not the one DisconnectTransport checks.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(failed=1)
    assert advice in result.stdout.str()


PLAIN_SUITE_TEST = """
import asyncio
import weakref

import httpx
import pytest

_refreshers = weakref.WeakKeyDictionary()


async def refresh_cache():
    while True:
        await asyncio.sleep(0.5)


async def app(scope, receive, send):
    loop = asyncio.get_running_loop()
    if loop not in _refreshers:
        _refreshers[loop] = loop.create_task(refresh_cache())
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_plain():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        assert (await client.get("/")).text == "ok"
"""


def test_under_disconnect_audit_the_advice_names_the_run_wide_setting(pytester: pytest.Pytester) -> None:
    """The suite never made a DisconnectTransport: the run's setting is the one it can use."""
    pytester.makepyfile(PLAIN_SUITE_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--disconnect-audit",
                                           "--disconnect-patience=0.3")
    result.assert_outcomes(failed=1)
    assert ("declare it once for the run: disconnect_allow = refresh_cache in the ini file, or "
            f"--disconnect-allow=refresh_cache  ({LIFETIME})") in result.stdout.str()
    declared = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--disconnect-audit",
                                             "--disconnect-allow=refresh_cache")
    declared.assert_outcomes(passed=1)


# datasette's writer thread: app-lifetime infrastructure that is a thread --------------------------

#: datasette 0.65.5's lazy writer thread, as datasette/database.py starts it (its reply goes
#: through a janus queue there; a future here), in a package of the same name.
DATASETTE_DATABASE = """
import asyncio
import queue
import threading


class Database:
    def __init__(self):
        self._write_queue = None
        self._write_thread = None

    async def execute_write_fn(self, fn):
        if self._write_queue is None:
            self._write_queue = queue.Queue()
        if self._write_thread is None:
            self._write_thread = threading.Thread(target=self._execute_writes, daemon=True)
            self._write_thread.start()
        reply = asyncio.get_running_loop().create_future()
        self._write_queue.put((fn, reply))
        return await reply

    def _execute_writes(self):
        # Infinite looping thread that protects the single write connection to this database
        while True:
            fn, reply = self._write_queue.get()
            reply.get_loop().call_soon_threadsafe(reply.set_result, fn())
"""

WRITES_TEST = """
import pytest

from {module} import Database

db = Database()


async def app(scope, receive, send):
    await receive()
    written = await db.execute_write_fn(lambda: b"written")
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": written}})


def test_first_write(disconnect):
    assert disconnect.run(app, "POST", "/", after="never", patience=0.3).body == b"written"


def test_second_write(disconnect):
    assert disconnect.run(app, "POST", "/", after="never", patience=0.3).body == b"written"
"""


def test_datasettes_writer_thread_is_app_lifetime_and_listed_as_such(pytester: pytest.Pytester) -> None:
    """The first write starts the thread, which waits on its queue for good: not the request's work."""
    pytester.mkpydir("datasette")
    pytester.path.joinpath("datasette", "database.py").write_text(DATASETTE_DATABASE)
    pytester.makepyfile(WRITES_TEST.format(module="datasette.database"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*App-lifetime work (built-in list), not judged: thread *_execute_writes, "
                                 "datasette's writer thread per database (still running)"])
    assert "are still running and are left behind" not in result.stdout.str()  # the app's, not left behind


def test_a_thread_running_a_function_of_the_same_name_elsewhere_is_judged(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("mydb")
    pytester.path.joinpath("mydb", "database.py").write_text(DATASETTE_DATABASE)
    pytester.makepyfile(WRITES_TEST.format(module="mydb.database"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "first")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*disconnect_allow = Database._execute_writes in the ini file*"])
