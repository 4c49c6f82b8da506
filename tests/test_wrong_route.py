"""Wrong routes fail: a 404 or 405 no handler chose tested nothing; expect_status= says it is wanted."""

from __future__ import annotations

import pytest

from pytest_disconnect import Disconnect, WrongRoute
from pytest_disconnect._asgi.wrong_route import ADVICE, ROUTES_UNKNOWN
from pytest_disconnect._types import Receive, Scope, Send
from tests import lifespan_apps

pytestmark = pytest.mark.anyio


async def test_a_404_names_the_method_the_path_and_the_routes() -> None:
    app = lifespan_apps.mounted_app()
    with pytest.raises(WrongRoute) as caught:
        await Disconnect().arun(app, "GET", "/no-such-path", after=0.5)
    assert str(caught.value) == "\n".join([
        "GET /no-such-path was answered 404 Not Found: no route of the app matches the path, so no handler "
        "ran and the disconnect was never tested",
        "",
        "  The app's routes:",
        "    GET /",
        "    GET /api/users",
        "    POST /api/users",
        "",
        f"  {ADVICE.format(status=404)}",
    ])
    assert caught.value.result.status == 404


async def test_a_405_says_which_methods_the_path_allows() -> None:
    app = lifespan_apps.make_app([])
    with pytest.raises(WrongRoute) as caught:
        await Disconnect().arun(app, "POST", "/careless", after=0.5, lifespan="off")
    assert str(caught.value) == "\n".join([
        "POST /careless was answered 405 Method Not Allowed: the path exists, but not for POST (it allows "
        "GET), so no handler ran and the disconnect was never tested",
        "",
        "  The app's routes:",
        "    GET /careless",
        "    GET /careful",
        "    GET /count",
        "    GET /items/{item_id}",
        "",
        f"  {ADVICE.format(status=405)}",
    ])


async def test_a_404_under_a_mount_is_a_wrong_route_too() -> None:
    with pytest.raises(WrongRoute, match=r"^GET /api/nothing was answered 404 Not Found"):
        await Disconnect().arun(lifespan_apps.mounted_app(), "GET", "/api/nothing", after=0.5)


async def test_an_app_without_a_router_says_it_cannot_list_routes() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(WrongRoute) as caught:
        await Disconnect().arun(app, "GET", "/x", after=0.5)
    assert str(caught.value).split("\n")[2] == f"  {ROUTES_UNKNOWN}"


async def test_a_404_the_handler_chose_is_not_a_wrong_route() -> None:
    result = await Disconnect().arun(lifespan_apps.make_app([]), "GET", "/items/3", after=0.5)
    assert (result.status, result.handler_matched) == (404, True)


async def test_expect_status_is_the_escape() -> None:
    result = await Disconnect().arun(lifespan_apps.mounted_app(), "GET", "/no-such-path", after=0.5,
                                     expect_status=404)
    assert result.status == 404
    with pytest.raises(WrongRoute) as caught:
        await Disconnect().arun(lifespan_apps.mounted_app(), "GET", "/", after=0.5, expect_status=404)
    assert str(caught.value) == ("GET / was answered 200 OK, not the 404 Not Found the test expects "
                                 "(expect_status=404)")


async def test_check_false_returns_the_result() -> None:
    result = await Disconnect().arun(lifespan_apps.mounted_app(), "GET", "/nope", after=0.5, check=False)
    assert result.status == 404


@pytest.mark.parametrize("bad", [True, "404", 42])
async def test_expect_status_takes_an_http_status(bad: object) -> None:
    with pytest.raises(ValueError, match="expect_status= takes an HTTP status such as 404"):
        await Disconnect().arun(lifespan_apps.mounted_app(), "GET", "/", expect_status=bad)  # type: ignore[arg-type]


def test_run_fails_a_typo_in_a_sync_test() -> None:
    with pytest.raises(WrongRoute, match=r"^GET /no-such-path was answered 404"):
        Disconnect().run(lifespan_apps.mounted_app(), "GET", "/no-such-path", after=0.5)
