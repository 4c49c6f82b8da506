"""Where DisconnectTransport's client gets what a TestClient or ASGITransport client gets.

The transport is a drop-in for both, and a suite checks what they hand over beyond the status,
headers and body: the ``extensions`` a response carries (what a template rendered, the trailers
an app sent). Checked against Starlette 1.10's TestClient and the ASGITransport of httpx 0.28
and httpx2 2.16.
"""

from __future__ import annotations

import httpx

from .._asgi.channel import Channel


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
