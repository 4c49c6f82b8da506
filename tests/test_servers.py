"""Server profiles (uvicorn, hypercorn, asgi-2.4) and the diagnostics for known bugs (catalogue B3, B4, B9)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pytest_disconnect import PROFILES, Disconnect, Trigger
from pytest_disconnect._links import DOCS_URL
from pytest_disconnect._report.text import section_text
from pytest_disconnect._types import Receive, Scope, Send

from .apps import read_body


async def send_only_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """B4: streams 2 s of chunks and never calls receive(); only a raising send() can stop it."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(40):
        await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
        await anyio.sleep(0.05)
    await send({"type": "http.response.body", "body": b""})


async def receives_twice_after_the_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """Waits for the disconnect, then asks receive() again before cleaning up."""
    while (await receive())["type"] != "http.disconnect":
        pass
    await receive()  # uvicorn: http.disconnect again, at once; hypercorn: nothing more, ever


async def echo_what_it_gets(scope: Scope, receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _polls_before_reading(request: Request) -> Response:
    """B3: is_disconnected() before the body: it reads the body's chunk and throws it away."""
    if await request.is_disconnected():
        return PlainTextResponse("gone")
    return PlainTextResponse(await request.body())


polls_before_reading = Starlette(routes=[Route("/upload", _polls_before_reading, methods=["POST"])])

fastapi_upload = FastAPI()


@fastapi_upload.post("/items")
async def create_item(item: dict[str, Any]) -> dict[str, Any]:
    return item


def test_profiles_are_the_servers_users_deploy_on() -> None:
    assert {name: (p.spec_version, p.send_raises, p.repeats_disconnect, p.keeps_unread_body)
            for name, p in PROFILES.items()} == {
        "uvicorn": ("2.3", False, True, False),
        "hypercorn": ("2.1", False, False, True),
        "asgi-2.4": ("2.4", True, True, False),
    }


@pytest.mark.parametrize(("server", "verdict"), [("uvicorn", "kept-running"), ("hypercorn", "kept-running"),
                                                 ("asgi-2.4", "stopped")])
def test_a_send_only_stream_stops_only_where_send_raises(disconnect: Disconnect, server: str,
                                                         verdict: str) -> None:
    result = disconnect.run(send_only_stream, "GET", "/", after=0.2, tolerance=0.3, server=server, check=False)
    assert result.verdict == verdict
    report = section_text(result)
    if verdict == "stopped":
        assert result.sends_after_disconnect == 1
        assert "send() <- http.response.body 5 B (more_body=True)  raised ClientDisconnected" in report
    else:
        assert "The app never called receive() after the client left, so it could not learn" in report
        assert f"to the departed client ({server} drops them silently)" in report


@pytest.mark.parametrize(("server", "verdict"), [("uvicorn", "stopped"), ("asgi-2.4", "stopped"),
                                                 ("hypercorn", "cancelled")])
def test_hypercorn_gives_the_disconnect_once_then_waits(disconnect: Disconnect, server: str, verdict: str) -> None:
    result = disconnect.run(receives_twice_after_the_disconnect, "GET", "/", after=0.1, tolerance=0.2,
                            patience=0.4, server=server, check=False)
    assert result.verdict == verdict
    waits = "receive() waits: the queue has nothing more (hypercorn)"
    assert (waits in result.timeline.texts()) == (server == "hypercorn")


@pytest.mark.parametrize(("server", "body"), [("uvicorn", b""), ("hypercorn", b"payload")])
def test_unread_body_is_dropped_by_uvicorn_and_kept_by_hypercorn(disconnect: Disconnect, server: str,
                                                                 body: bytes) -> None:
    result = disconnect.run(echo_what_it_gets, "POST", "/", body=b"payload", after=0.0, server=server,
                            check=False)
    assert result.body == body  # what the app read, then answered to nobody


def test_a_body_chunk_thrown_away_by_is_disconnected_is_reported(disconnect: Disconnect) -> None:
    result = disconnect.run(polls_before_reading, "POST", "/upload", body=b"data", after=0.2, check=False)
    assert result.chunks_thrown_away == 1
    notice = ("  Lost request body: is_disconnected() read 1 body chunk and threw it away; read the body "
              f"first (await request.body()), then poll ({DOCS_URL}how-it-works/#known-bugs-the-report-names).")
    assert notice in section_text(result).split("\n")


@pytest.mark.parametrize("server", list(PROFILES))
def test_fastapis_400_after_a_disconnect_mid_upload_is_a_response_to_nobody(disconnect: Disconnect,
                                                                           server: str) -> None:
    result = disconnect.run(fastapi_upload, "POST", "/items", body=[b'{"name": ', b'"tea', b'pot"}'],
                            headers={"content-type": "application/json"},
                            after=Trigger.after_request_chunks(1), server=server, check=False)
    assert result.status == 400
    assert result.response_started_at is not None and result.disconnected_at is not None
    assert result.response_started_at >= result.disconnected_at
    notice = [line for line in section_text(result).split("\n") if "Response to nobody" in line]
    prefix = "  Response to nobody: the app started a 400 response at +"
    assert notice and notice[0].startswith(prefix)
    assert float(notice[0][len(prefix):].split(" s", 1)[0]) < 1.0  # at once; a loaded machine adds ms


def test_the_parametrizing_fixture_runs_a_test_under_every_profile(pytester: pytest.Pytester,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    pytester.makepyfile('''
import pytest

async def app(scope, receive, send):
    while (await receive())["type"] != "http.disconnect":
        pass

@pytest.mark.disconnect(server="uvicorn")  # the fixture wins over the marker
def test_each(disconnect, disconnect_server):
    result = disconnect.run(app, "GET", "/")
    print("\\nSERVER", disconnect_server, result.settings.server, result.settings.source("server"))
''')
    result = pytester.runpytest("-v", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_each?uvicorn? *", "*test_each?hypercorn? *", "*test_each?asgi-2.4? *"])
    for name in PROFILES:
        result.stdout.fnmatch_lines([f"SERVER {name} {name} the disconnect_server fixture"])
