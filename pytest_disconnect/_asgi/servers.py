"""How real servers behave once the client has left (docs/how-it-works.md, 'Server behaviour')."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerProfile:
    """The parts of a server's behaviour that change what an app sees of a disconnect."""

    name: str
    #: Advertised in ``scope["asgi"]["spec_version"]``; Starlette's streaming
    #: responses take a different path from 2.4 on.
    spec_version: str
    #: Spec 2.4 lets ``send()`` raise an OSError once the client is gone;
    #: uvicorn (spec 2.3) returns silently.
    send_raises: bool
    summary: str
    #: uvicorn answers every receive() after the disconnect with http.disconnect, at once;
    #: hypercorn feeds receive() from a queue: the disconnect comes once, then it waits forever.
    repeats_disconnect: bool = True
    #: uvicorn drops request body the app had not read when the client left; hypercorn's
    #: queue still holds it, ahead of the disconnect.
    keeps_unread_body: bool = False


#: The server behaviours ``server=`` chooses from, by name.
PROFILES: dict[str, ServerProfile] = {
    profile.name: profile
    for profile in (
        ServerProfile("uvicorn", "2.3", send_raises=False,
                      summary="spec 2.3, send() after the disconnect is silent"),
        ServerProfile("hypercorn", "2.1", send_raises=False, repeats_disconnect=False, keeps_unread_body=True,
                      summary="spec 2.1, receive() gives http.disconnect once (a queue) and then waits "
                              "forever, send() after the disconnect is silent"),
        ServerProfile("asgi-2.4", "2.4", send_raises=True,
                      summary="spec 2.4, send() after the disconnect raises ClientDisconnected"),
    )
}

DEFAULT_SERVER = "uvicorn"
