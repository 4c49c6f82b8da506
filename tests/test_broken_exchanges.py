"""Exchanges a real server would never call a success, and arguments that do not name themselves."""

from __future__ import annotations

import pytest

from pytest_disconnect import Disconnect, Settings
from pytest_disconnect._errors import IncompleteResponse
from pytest_disconnect._types import ASGIApp
from tests import hostile_apps


def disconnect() -> Disconnect:
    return Disconnect(Settings(tolerance=0.2, patience=0.5))


NO_RESPONSE = ("the app returned without sending a response (no 'http.response.start'); "
               "a real server answers 500 Internal Server Error")
START_ONLY = ("the app returned after 'http.response.start' without finishing the response (no "
              "'http.response.body' with more_body=False); a real server drops the connection")


@pytest.mark.anyio
@pytest.mark.parametrize(("app", "after", "message"), [
    (hostile_apps.returns_without_response, 0.5, NO_RESPONSE),
    (hostile_apps.returns_without_response, "response-start", NO_RESPONSE),
    (hostile_apps.sends_only_start, 0.5, START_ONLY),
    (hostile_apps.sends_only_start, "never", START_ONLY),
])
@pytest.mark.parametrize("check", [True, False])
async def test_an_app_that_returns_without_a_whole_response_fails(
        app: ASGIApp, after: object, message: str, check: bool) -> None:
    with pytest.raises(IncompleteResponse) as caught:
        await disconnect().arun(app, "GET", "/", after=after, check=check)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert caught.value.__notes__ == ["pytest-disconnect: GET / broke the ASGI protocol"]


@pytest.mark.anyio
async def test_returning_without_a_response_after_the_client_left_is_how_an_app_stops() -> None:
    result = await disconnect().arun(hostile_apps.returns_without_response, "GET", "/")  # leaves at once
    assert result.verdict == "stopped"


@pytest.mark.anyio
@pytest.mark.parametrize(("app", "message"), [
    (hostile_apps.int_body, "send() got 'http.response.body' with body 5 (int); the body must be bytes"),
    (hostile_apps.str_body, "send() got 'http.response.body' with body 'text' (str); the body must be bytes"),
    (hostile_apps.str_header, "send() got 'http.response.start' with header ('content-type', 'text/plain'); "
                              "a header is a [name, value] pair of bytes"),
])
async def test_bodies_and_headers_that_are_not_bytes_are_protocol_violations(app: ASGIApp, message: str) -> None:
    with pytest.raises(AssertionError) as caught:
        await disconnect().arun(app, "GET", "/", after=0.5, check=False)
    assert str(caught.value) == message
    assert caught.value.__notes__ == [
        "pytest-disconnect: GET / broke the ASGI protocol; send() raised this into the app"]


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"body": 123}, TypeError, "body= takes bytes, str (sent as UTF-8) or a list of bytes chunks, not int 123"),
    ({"body": [b"a", "b"]}, TypeError, "body= chunks must be bytes, not str 'b'"),
    ({"headers": "x"}, TypeError, "headers= takes a mapping or a list of (name, value) pairs, not str 'x'"),
    ({"headers": [("a",)]}, TypeError, "headers= takes (name, value) pairs; ('a',) is not one"),
    ({"headers": {"a": 1}}, TypeError, "headers= names and values are str or bytes, not ('a', 1)"),
    ({"path": "/a b"}, ValueError, "path must not contain spaces or control characters, as '/a b' does: "
                                   "percent-encode them ('%20' for a space)"),
])
def test_bad_call_arguments_name_themselves(arguments: dict[str, object], error: type[Exception],
                                            message: str) -> None:
    path = str(arguments.pop("path", "/"))
    with pytest.raises(error) as caught:
        disconnect().run(hostile_apps.returns_without_response, "GET", path, **arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_an_empty_option_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--disconnect-tolerance=", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid --disconnect-tolerance '' on the command line: expected a value;*"])


def test_live_mode_without_a_real_server_is_one_usage_error_at_start_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass\ndef test_two(): pass")
    result = pytester.runpytest("--disconnect-live=fin", "--disconnect-server=asgi-2.4", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*live=fin (--disconnect-live) needs a real server, but server=asgi-2.4 "
                                 "(--disconnect-server) has none: choose uvicorn or hypercorn, or live=off"])


def test_a_long_loop_keeps_the_failing_reports_and_the_last_few(pytester: pytest.Pytester) -> None:
    from pytest_disconnect._report.kept_sections import FAILING_KEPT, LAST_KEPT

    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile('''
import pytest

async def instant(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

async def ignores(scope, receive, send):
    import anyio
    await anyio.sleep(1)

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_many(disconnect, anyio_backend):
    for number in range(300):
        failing = number % 20 == 0  # 15 of them
        app = ignores if failing else instant
        await disconnect.arun(app, "GET", f"/{number}", after=0.5 if not failing else 0.0,
                              tolerance=0.0, patience=0.0, clock="virtual", check=False)
    assert len(disconnect.results) == 300
''')
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1)
    sections = [line for line in result.outlines if "Captured disconnect call" in line]
    assert len(sections) == FAILING_KEPT + LAST_KEPT + 1
    result.stdout.fnmatch_lines([f"300 scenarios (* failing): the reports of {300 - FAILING_KEPT - LAST_KEPT} are "
                                 f"left out; shown: the first {FAILING_KEPT} failing and the last {LAST_KEPT}"])


class _Bytes(bytes):
    pass


def _answers_with(headers: object, status: int = 200) -> ASGIApp:
    async def app(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    return app


@pytest.mark.anyio
async def test_headers_are_checked_and_made_bytes_in_whatever_shape_they_come() -> None:
    """The list of byte pairs Starlette sends is taken as is; anything else is checked and converted pair by pair."""
    for headers in ([(b"a", b"1")], [[b"a", b"1"]], ((b"a", b"1"),), [(_Bytes(b"a"), b"1")]):
        result = await disconnect().arun(_answers_with(headers), "GET", "/", after="never", check=False)
        assert result.headers == ((b"a", b"1"),) and [type(part) for part in result.headers[0]] == [bytes, bytes]
    for bad in ([(b"a", bytearray(b"1"))], [(b"a", b"1", b"2")], [(b"a", b"1"), (b"b", "2")]):
        with pytest.raises(AssertionError, match=r"a header is a \[name, value\] pair of bytes"):
            await disconnect().arun(_answers_with(bad), "GET", "/", after="never")


class _LoudStatus(int):
    """A status that counts how often it is formatted."""

    formatted = 0

    def __format__(self, spec: str) -> str:
        _LoudStatus.formatted += 1
        return super().__format__(spec)


@pytest.mark.anyio
async def test_the_channel_formats_its_timeline_lines_only_when_read() -> None:
    _LoudStatus.formatted = 0
    result = await disconnect().arun(_answers_with([], _LoudStatus(200)), "GET", "/", after="never", check=False)
    assert _LoudStatus.formatted == 0
    assert [event.text for event in result.timeline if event.actor == "send"] == [
        "send() <- http.response.start 200", "send() <- http.response.body 2 B"]
    assert _LoudStatus.formatted == 1
