"""Where DisconnectTransport's client gets what a TestClient or ASGITransport client gets.

The transport is a drop-in for both, and a suite checks what they hand over beyond the status,
headers and body: the ``extensions`` a response carries (what a template rendered, the trailers
an app sent) and the answer to an app that ended without a response. Checked against Starlette
1.10's TestClient and the ASGITransport of httpx 0.28 and httpx2 2.16.
"""

from __future__ import annotations

import httpx

from .._asgi.channel import Channel
from .._errors import IncompleteResponse

#: What the client raises for an app that returned without a response (TestClient and ASGITransport raise
#: AssertionError there; ASGITransport's has no message).
NO_RESPONSE = "the app returned without sending a response (no 'http.response.start')"
#: The same under an audited TestClient: TestClient's own words first, which its users' tests match.
TESTCLIENT_NO_RESPONSE = f"TestClient did not receive any response: {NO_RESPONSE}"


def attach_extensions(response: httpx.Response, channel: Channel | None) -> None:
    """What a template response rendered and the trailers a response declared, where TestClient puts
    them. Only a scope that offered the extension gets either (an audited TestClient's): the trailers
    are the channel's own list, filled as they come, as TestClient's is; ASGITransport offers neither."""
    if channel is None:
        return
    info = channel.debug_info
    if isinstance(info, dict):
        response.extensions["http.response.debug"] = info
        for name in ("template", "context"):
            if name in info:
                setattr(response, name, info[name])
    if channel.trailers is not None:
        response.extensions["http.response.trailers"] = channel.trailers


def no_response(*, raise_app_exceptions: bool, app_raised: bool, message: str = NO_RESPONSE
                ) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and headers for an app that ended without starting a response, its client still
    there. An app that raised (the client told not to raise it) gets what TestClient and ASGITransport
    give: 500, no headers, an empty body (uvicorn's body says "Internal Server Error"). One that just
    returned gets AssertionError from both clients, unless TestClient was told not to raise; then
    (ASGITransport raises AssertionError whatever it was told) TestClient's 500, as uvicorn answers 500."""
    if raise_app_exceptions and not app_raised:
        raise IncompleteResponse(message)
    return 500, []
