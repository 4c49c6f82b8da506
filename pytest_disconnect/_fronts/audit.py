"""--disconnect-audit: requests an unmodified suite makes go through DisconnectTransport.

Four seams, each a method swapped on its class for the session and put back at its end:

- ``httpx.ASGITransport.handle_async_request`` and ``httpx2.ASGITransport``'s: the request is
  handed to a DisconnectTransport made from the ASGITransport's own arguments (app,
  raise_app_exceptions, root_path, client), one per ASGITransport.
- ``starlette.testclient._TestClientTransport.handle_request`` (what ``fastapi.testclient``
  re-exports): HTTP requests go to a DisconnectTransport that uses the TestClient's own
  portal (its loop inside ``with``, so the lifespan it ran is the app's) and its lifespan
  state; websocket requests keep the original path. Cookies, redirects and
  ``client.stream`` live above the transport, in the client, and are untouched.
- ``litestar.testing.transport.TestClientTransport.handle_request``, which Litestar's
  ``TestClient`` and ``AsyncTestClient`` share: the same, on the Litestar client's portal
  (``_fronts/audit_litestar.py``).

The patch has one owner per process, leased (as anyio leases its runners): the first
session that asks installs it, the last one to let go removes it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from .._compat import (
    TESTCLIENT_TRANSPORT,
    close_with_testclient,
    missing_testclient_field,
    testclient_extensions,
    testclient_transport,
)
from .answers import TESTCLIENT_NO_RESPONSE
from .audit_litestar import patch_litestar
from .audit_seams import auditing, ours_if_any, swap
from .audit_seams import ours as _ours
from .transport import DisconnectTransport, for_audit

#: Checked against: httpx 0.28, httpx2 2.16, starlette 1.10 (the TestClient's transport: _compat.py).


class _Lease:
    """How many sessions want the patch; installed while one does."""

    def __init__(self) -> None:
        self.holders = 0
        self._undo: list[Callable[[], None]] = []

    def acquire(self) -> None:
        self.holders += 1
        if self.holders == 1:
            self._undo = _install()

    def release(self) -> None:
        if self.holders == 0:
            return
        self.holders -= 1
        if self.holders == 0:
            undo, self._undo = self._undo, []
            for step in reversed(undo):
                step()

    @property
    def installed(self) -> bool:
        return self.holders > 0


LEASE = _Lease()

def _install() -> list[Callable[[], None]]:
    undo: list[Callable[[], None]] = []
    for library in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(library)
        except ImportError:
            continue
        undo += _patch_asgi_transport(module.ASGITransport)
    # import_module, not `from starlette import testclient`: that would return the package's
    # attribute even after sys.modules dropped the module, and tests would import another copy.
    testclient = _imported("starlette", "starlette.testclient")
    if testclient is not None:
        undo += _patch_testclient(testclient)
    litestar = _imported("litestar", "litestar.testing.transport")
    if litestar is not None:
        undo += patch_litestar(litestar)
    return undo


def _imported(library: str, module: str) -> Any:
    """``module`` if ``library`` is installed and it imports, else None. Imported now, when the
    session starts, so the patch is in place before the suite imports its client; a warning the
    import gives (Starlette deprecating httpx for httpx2) is not the suite's: under the suite's
    ``filterwarnings = error`` it would stop the run before its first test."""
    if importlib.util.find_spec(library) is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except Exception:  # no httpx/httpx2 for Starlette, a library that fails to import: the suite meets that itself
        return None


def _patch_asgi_transport(kind: type) -> list[Callable[[], None]]:
    original = kind.handle_async_request  # type: ignore[attr-defined]
    original_aclose = kind.aclose  # type: ignore[attr-defined]

    async def handle_async_request(self: Any, request: Any) -> Any:
        __tracebackhide__ = True
        if not auditing():
            return await original(self, request)
        ours = _ours(self, lambda: DisconnectTransport(self.app, self.raise_app_exceptions, self.root_path,
                                                       self.client))
        return await ours.handle_async_request(request)

    async def aclose(self: Any) -> None:
        __tracebackhide__ = True
        ours = ours_if_any(self)
        if ours is not None:
            await ours.aclose()
        await original_aclose(self)

    return [swap(kind, "handle_async_request", handle_async_request), swap(kind, "aclose", aclose)]


def _patch_testclient(testclient: Any) -> list[Callable[[], None]]:
    kind = testclient_transport(testclient)
    if kind is None:
        return _moved(testclient, f"{TESTCLIENT_TRANSPORT}.handle_request")
    original = kind.handle_request
    extensions = testclient_extensions(original)  # read from the original, before the swap

    def handle_request(self: Any, request: Any) -> Any:
        __tracebackhide__ = True
        if request.url.scheme in ("ws", "wss") or not auditing():
            return original(self, request)  # websockets keep TestClient's own session
        missing = missing_testclient_field(self)
        if missing is not None:
            _moved(testclient, f"{TESTCLIENT_TRANSPORT}.{missing}")

        def make() -> DisconnectTransport:
            # The TestClient's loop (inside `with`, its lifespan's) and what its lifespan set (each
            # request gets a shallow copy); template responses say what they rendered.
            return for_audit(DisconnectTransport(self.app, self.raise_server_exceptions, self.root_path,
                                                 tuple(self.client)),
                             portals=self.portal_factory, state=self.app_state,
                             extensions=extensions, no_response=TESTCLIENT_NO_RESPONSE)

        response = _ours(self, make).handle_request(request)
        stream = response.stream
        # TestClient's close() (the end of its `with`) closes responses still open: ours too.
        stream.on_close = close_with_testclient(self, stream.close)
        return response

    return [swap(kind, "handle_request", handle_request)]


def _moved(module: Any, what: str) -> NoReturn:
    version = getattr(sys.modules.get("starlette"), "__version__", "?")
    raise RuntimeError(f"--disconnect-audit cannot patch starlette {version}: {module.__name__}.{what} is not "
                       "where pytest-disconnect expects it (checked against starlette 1.10); audit that suite "
                       "with DisconnectTransport instead (see docs/audit.md)")
