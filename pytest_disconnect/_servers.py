"""How real servers behave once the client has left (see FACTS: 'What real servers do')."""

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


#: The server behaviours ``server=`` chooses from, by name.
PROFILES: dict[str, ServerProfile] = {
    profile.name: profile
    for profile in (
        ServerProfile("uvicorn", "2.3", send_raises=False,
                      summary="spec 2.3, send() after the disconnect is silent"),
        ServerProfile("asgi-2.4", "2.4", send_raises=True,
                      summary="spec 2.4, send() after the disconnect raises ClientDisconnected"),
    )
}

DEFAULT_SERVER = "uvicorn"
