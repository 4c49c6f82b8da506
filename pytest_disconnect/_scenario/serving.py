"""Who calls the app: the in-process server (the default), or a real one (live mode, in _fronts).

A scenario talks to its server through this interface only, so it has no branch for live mode,
and live mode's module depends on the scenario, never the other way round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from .._asgi.channel import Channel, ChannelOptions
from .._asgi.request import Request
from .._asgi.servers import PROFILES
from .._watch.workset import WorkSet
from .app_call import AppCall

#: Has the scenario run the app call as its first work: (the call, its name). The scenario runs
#: it inline, in its caller's task, or (a client that reads the response while the app runs)
#: in a task of its own.
Spawn = Callable[[Callable[[], Awaitable[None]], str], None]


class Serving(Protocol):
    """One scenario's server, used in this order: open, channel, begin, finish, close."""

    #: Whether open(), finish() and close() do anything. The in-process server's do not, and
    #: awaiting three empty coroutines was a few per cent of a small app's scenario.
    has_hooks: bool

    async def open(self, backend: str) -> None:
        """Set-up before the scenario's clock starts (a real server starts listening)."""

    def channel(self, request: Request, options: ChannelOptions) -> Channel:
        """The channel the app's receive() and send() go through."""

    async def begin(self, call: AppCall, request: Request, state: Mapping[str, Any] | None,
                    workset: WorkSet, spawn: Spawn) -> None:
        """Have the app called: ``call.run(scope)`` through ``spawn``, or by a server of its own."""

    async def finish(self) -> None:
        """After the verdict, before the clock stops (bounded; a real client goes away)."""

    async def close(self) -> None:
        """Last, whatever happened (a real server stops and frees its port)."""


class InProcess:
    """The synthetic server: the channel is the client; the scenario runs the app call (see ``Spawn``)."""

    has_hooks = False

    def __init__(self, server: str) -> None:
        self.profile = PROFILES[server]

    async def open(self, backend: str) -> None:
        pass

    def channel(self, request: Request, options: ChannelOptions) -> Channel:
        return Channel(request, options)

    async def begin(self, call: AppCall, request: Request, state: Mapping[str, Any] | None,
                    workset: WorkSet, spawn: Spawn) -> None:
        scope = request.scope(self.profile)
        if state is not None:  # the lifespan's state: each request gets a shallow copy
            scope["state"] = dict(state)
        spawn(lambda: call.run(scope), f"pytest-disconnect: {request.target}")

    async def finish(self) -> None:
        pass

    async def close(self) -> None:
        pass


_IN_PROCESS: dict[str, InProcess] = {}


def in_process(server: str) -> InProcess:
    """The in-process server for a profile (it keeps nothing of a scenario's: one per profile)."""
    serving = _IN_PROCESS.get(server)
    if serving is None:
        serving = _IN_PROCESS[server] = InProcess(server)
    return serving
