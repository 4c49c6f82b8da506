"""_compat.py: each reach-in into another library's internals fails with a message naming the library
and its version when the internal is gone, and the internals matched by name are where they were checked."""

from __future__ import annotations

import asyncio
import functools
import inspect
import platform
import sys
import threading
import types
from typing import Any

import pytest

from pytest_disconnect import _compat
from pytest_disconnect._compat import InternalMoved


def test_a_missing_frame_function_names_python_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _compat.caller_frame(0).f_code.co_name == "test_a_missing_frame_function_names_python_and_its_version"
    assert threading.get_ident() in _compat.thread_frames()
    version = f"{platform.python_implementation()} {platform.python_version()}"
    getframe, current_frames = sys._getframe, sys._current_frames
    monkeypatch.delattr(sys, "_getframe")
    monkeypatch.delattr(sys, "_current_frames")
    try:
        with pytest.raises(InternalMoved) as getframe_error:
            _compat.caller_frame(0)
        with pytest.raises(InternalMoved) as frames_error:
            _compat.thread_frames()
    finally:
        sys._getframe, sys._current_frames = getframe, current_frames  # pytest's own reports use them
    assert str(getframe_error.value) == (
        f"pytest-disconnect relies on sys._getframe(), which {version} does not have (checked against "
        "CPython 3.11.7, 3.12.1 and 3.13.0); please report this with your Python version")
    assert "sys._current_frames(), which " + version in str(frames_error.value)


def test_a_thread_without_its_target_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    thread = threading.Thread(target=print)
    assert _compat.thread_target(thread) is print
    monkeypatch.setattr(_compat, "_HAS_TARGET", False)  # as on a Python whose Thread keeps it elsewhere
    with pytest.raises(InternalMoved, match=r"threading\.Thread\._target, which C?\w+ 3\.\d+"):
        _compat.thread_target(thread)


def test_the_sweep_names_pytest_when_metafunc_moved() -> None:
    metafunc = types.SimpleNamespace(_arg2fixturedefs={"app": [types.SimpleNamespace(func=print)]})
    assert list(_compat.fixture_functions(metafunc, "app")) == [print]
    assert list(_compat.fixture_functions(metafunc, "other")) == []
    with pytest.raises(InternalMoved) as error:
        _compat.fixture_functions(types.SimpleNamespace(), "app")
    assert str(error.value) == (
        f"pytest-disconnect relies on pytest's Metafunc._arg2fixturedefs, which pytest {pytest.__version__} does not "
        "have (checked against pytest 8.4 to 9.2): pass sweep(app='package.module:app') instead of a fixture; "
        "please report this with your pytest version")


def test_the_audit_names_starlette_when_the_testclient_moved() -> None:
    from starlette import __version__ as starlette_version

    from pytest_disconnect._fronts import audit

    with pytest.raises(InternalMoved, match=rf"_open_requests, which starlette {starlette_version} does not"):
        _compat.close_with_testclient(object(), print)
    empty = types.ModuleType("starlette.testclient")
    assert _compat.testclient_transport(empty) is None
    with pytest.raises(RuntimeError, match=rf"^--disconnect-audit cannot patch starlette {starlette_version}: "
                                           r"starlette\.testclient\._TestClientTransport\.handle_request is not"):
        audit._patch_testclient(empty)


def test_a_task_is_forgotten_only_where_asyncio_can(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[bool, bool]:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
        forgotten = _compat.forget_task(task)
        gone = task not in asyncio.all_tasks()
        await task
        return forgotten, gone

    assert asyncio.run(main()) == (True, True)
    monkeypatch.delattr(asyncio.tasks, "_unregister_task")
    assert asyncio.run(main()) == (False, False)  # the shutdown then waits for it, as before


def test_the_internals_matched_by_name_are_where_they_were_checked() -> None:
    """A release that renames one fails here, in this suite, rather than in a user's verdict."""
    from starlette import requests, testclient
    from starlette.applications import Starlette

    assert callable(getattr(requests.Request, _compat.IS_DISCONNECTED))
    assert issubclass(getattr(requests, _compat.CLIENT_DISCONNECT), Exception)
    assert _compat.is_default_lifespan(Starlette().router.lifespan_context)
    assert _compat.is_starlette_router(Starlette().router) and not _compat.is_starlette_router(object())
    assert _compat.testclient_transport(testclient) is not None
    with testclient.TestClient(Starlette()) as client:
        transport: Any = client._transport
        assert _compat.missing_testclient_field(transport) is None
        _compat.close_with_testclient(transport, print)()


def test_fastapi_sync_endpoints_are_named_by_their_function() -> None:
    fastapi_routing = pytest.importorskip("fastapi.routing")

    def endpoint() -> None: ...

    runner = getattr(fastapi_routing, "_run_sync_endpoint", None)  # older FastAPI passed the endpoint itself
    assert runner is None or "function" in inspect.signature(runner).parameters
    assert _compat.sync_endpoint(functools.partial(print, function=endpoint)) is endpoint
    assert _compat.sync_endpoint(functools.partial(print, function=None)) is None
    assert _compat.sync_endpoint(print) is None


def test_cancellation_and_departure_are_recognised() -> None:
    assert _compat.is_cancellation(asyncio.CancelledError())
    assert not _compat.is_cancellation(ValueError())
    from starlette.requests import ClientDisconnect

    assert _compat.stops_for_a_departed_client(ClientDisconnect())
    assert _compat.stops_for_a_departed_client(OSError())
    assert not _compat.stops_for_a_departed_client(ValueError())


def test_the_virtual_clock_names_what_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.new_event_loop()
    try:
        selector, own = _compat.selector_and_self_pipe(loop)
        assert selector is not None and own is not None
        monkeypatch.delattr(loop, "_selector")
        assert _compat.selector_and_self_pipe(loop)[0] is None
        with pytest.raises(InternalMoved, match=r"relies on asyncio's BaseSelectorEventLoop\._selector, which C?\w+ "
                                                r"3\.\d+\.\d+ does not have .*: turn the virtual clock off"):
            _compat.swap_selector(loop, lambda inner: inner)
    finally:
        loop._selector = selector  # type: ignore[attr-defined]
        loop.close()


def test_raising_in_a_thread_names_the_c_api_where_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _compat.can_raise_in_thread()
    assert not _compat.raise_in_thread(-1, KeyboardInterrupt)  # no such thread: nothing raised
    monkeypatch.setattr(_compat, "_SET_ASYNC_EXC", None)  # as on PyPy, with no ctypes.pythonapi
    assert not _compat.can_raise_in_thread()
    with pytest.raises(InternalMoved, match="PyThreadState_SetAsyncExc"):
        _compat.raise_in_thread(threading.get_ident(), KeyboardInterrupt)


def test_live_mode_names_uvicorn_when_its_server_moved() -> None:
    uvicorn = pytest.importorskip("uvicorn")

    def config(app: object, **options: object) -> types.SimpleNamespace:  # as a release whose load() sets less
        return types.SimpleNamespace(load=lambda: None)

    fake = types.SimpleNamespace(Config=config, Server=uvicorn.Server)
    with pytest.raises(InternalMoved, match=rf"^pytest-disconnect relies on uvicorn's Config\.lifespan_class, which "
                                            rf"uvicorn {uvicorn.__version__} does not have \(checked against uvicorn "
                                            r"0\.54\): use live=off; "):
        asyncio.run(_compat.start_uvicorn(fake, print, None))  # type: ignore[arg-type]
