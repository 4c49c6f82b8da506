"""The request the synthetic client sends: scope fields, headers, bodies, and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_disconnect import PROFILES
from pytest_disconnect._asgi.request import Request
from pytest_disconnect._watch.heavy import heartbeat, heavy, marking


def test_scope_is_what_a_server_builds() -> None:
    request = Request.build("post", "/caf%C3%A9/items?limit=2", headers={"X-Token": "t"}, body=b"abc")
    scope = request.scope(PROFILES["uvicorn"])
    assert (scope["method"], scope["path"], scope["raw_path"], scope["query_string"]) == (
        "POST", "/café/items", b"/caf%C3%A9/items", b"limit=2")
    assert scope["headers"] == [(b"host", b"testserver"), (b"x-token", b"t"), (b"content-length", b"3")]
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert request.target == "POST /caf%C3%A9/items?limit=2"


def test_headers_as_pairs_keep_the_callers_host_and_length() -> None:
    request = Request.build("POST", "/", headers=[(b"Host", b"api"), ("content-length", "1")], body=b"x")
    assert request.headers == ((b"host", b"api"), (b"content-length", b"1"))


def test_json_bodies_and_chunks() -> None:
    request = Request.build("POST", "/", json={"a": 1})
    assert request.chunks == (b'{"a": 1}',)
    assert (b"content-type", b"application/json") in request.headers
    assert Request.build("POST", "/", body=[b"a", bytearray(b"b")]).chunks == (b"a", b"b")  # type: ignore[list-item]
    assert Request.build("POST", "/", body=[]).chunks == (b"",)
    assert Request.build("POST", "/", body="é").chunks == ("é".encode(),)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "GE T", "path": "/"}, ValueError, "method must be an HTTP method"),
        ({"method": "GET", "path": "report"}, ValueError, "path must start with '/'"),
        ({"method": "POST", "path": "/", "body": b"x", "json": {}}, ValueError, "either body= or json="),
        ({"method": "POST", "path": "/", "body": [b"a", 1]}, TypeError, "body= chunks must be bytes, not int 1"),
    ],
)
def test_bad_requests_say_what_is_wrong(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Request.build(**kwargs)  # type: ignore[arg-type]


def test_heavy_and_heartbeat_do_nothing_outside_a_scenario() -> None:
    with heavy("nothing"):
        heartbeat()


@pytest.mark.parametrize("target", ["tests.apps", ":heavy_helper", "tests.apps:"])
def test_heavy_targets_need_module_and_function(target: str) -> None:
    with pytest.raises(ValueError, match=r"expected 'package\.module:function'"), marking(target):
        pass


def test_marking_restores_the_function() -> None:
    from tests import apps

    original = apps.heavy_helper
    with marking("tests.apps:heavy_helper"):
        assert apps.heavy_helper is not original
        marked = apps.heavy_helper
        with marking("tests.apps:heavy_helper"):  # a second scenario shares the wrapper
            assert apps.heavy_helper is marked
        assert apps.heavy_helper is marked  # still marked for the first one
    assert apps.heavy_helper is original


class Reports:
    @staticmethod
    def build() -> str:
        return "report"


def test_marking_a_staticmethod_keeps_it_static() -> None:
    with marking("tests.test_request:Reports.build"):
        assert Reports.build() == "report"
    assert isinstance(vars(Reports)["build"], staticmethod) and Reports.build() == "report"


def rows() -> Iterator[bytes]:
    yield b"row"


def test_marking_a_generator_function_says_to_use_heavy_inside_it() -> None:
    with pytest.raises(TypeError, match="is a generator function"), marking("tests.test_request:rows"):
        pass
    assert not hasattr(rows, "__wrapped__")  # left untouched
