"""An audit that says what it checked: work that stopped because it saw the disconnect, against
work that merely ended within the tolerance without ever looking."""

from __future__ import annotations

from dataclasses import replace

import pytest

# Imported out here: pytester's in-process runs drop modules first imported inside a run.
import pytest_disconnect._fronts.transport  # noqa: F401
from pytest_disconnect import Disconnect
from pytest_disconnect._report.summary import EndpointStats, fold, summary_lines
from pytest_disconnect._report.text import headline

from .apps import ignores_disconnect, well_behaved

SERVICE = '''
import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
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

async def short(request):
    """Never looks at the disconnect; its work is just shorter than the tolerance."""
    await anyio.sleep(0.2)
    return PlainTextResponse("short")

app = Starlette(routes=[Route("/careful", careful), Route("/short", short)])
'''

SUITE = '''
import httpx
import pytest
from pytest_disconnect import DisconnectTransport
from service import app

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

async def test_careful():
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        await client.get("/careful")

async def test_short():
    async with httpx.AsyncClient(transport=DisconnectTransport(app), base_url="http://t") as client:
        await client.get("/short")
'''


def test_a_handler_that_never_looked_is_not_an_audit_that_passed(pytester: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile(service=SERVICE, test_suite=SUITE)
    result = pytester.runpytest("--disconnect-after=0.05", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED * disconnect audit passed: GET /careful stopped * after http.disconnect*"])
    result.stdout.fnmatch_lines(["SKIPPED * disconnect audit inconclusive: GET /short ended * after "
                                 "http.disconnect without looking at it (tolerance 1.00 s)*"])
    result.stdout.fnmatch_lines([
        "endpoint      requests  disconnected  looked  worst stop latency  verdict",
        "*",
        "GET /short *1 *1 *0 * ms  stopped",
        "GET /careful *1 *1 *1 * ms  stopped",
        "",
        "2 endpoints, all passing",
        "never looked at the disconnect (1): GET /short; their work ended within the tolerance on its own, "
        "which shows it was short, not that it stops",
    ])


@pytest.mark.anyio
async def test_the_result_says_whether_the_app_looked(disconnect: Disconnect) -> None:
    saw = await disconnect.arun(well_behaved, "GET", "/", after=0.05)
    short = await disconnect.arun(ignores_disconnect, "GET", "/", after=0.05, tolerance=10, patience=10)
    fast = await disconnect.arun(well_behaved, "GET", "/", after=100, tolerance=0.01)
    assert (saw.verdict, saw.looked) == ("stopped", True)
    assert (short.verdict, short.looked) == ("stopped", False)
    assert fast.looked is None  # the client never left: nothing to look at
    assert "stopped" in headline(saw)
    assert "without looking at it" in headline(short)


def test_the_summary_counts_the_requests_that_looked() -> None:
    from .test_report import KEPT_RUNNING

    looked = replace(KEPT_RUNNING, stopped_at=0.2, verdict="stopped", receives_after_disconnect=1)
    blind = replace(looked, receives_after_disconnect=0, sends_after_disconnect=1, response_started_at=0.2)
    table = fold([looked, blind, blind])
    [stats] = table.values()
    assert (stats.disconnected, stats.looked) == (3, 1)
    assert EndpointStats.from_property(*stats.to_property()) == stats
    assert summary_lines(table, "settings")[-2].startswith("never looked at the disconnect (1): GET /events;")
