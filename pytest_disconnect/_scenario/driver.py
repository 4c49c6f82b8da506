"""drive(): run one scenario of an ASGI app on the current event loop and return what happened.

The scenario itself is the state machine in ``machine``; this module picks the loop's
hooks, the server (in-process unless a front passes another) and the clock around it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .._asgi.channel import Channel, ClientSide
from .._asgi.request import Request
from .._asgi.trigger import Trigger
from .._backends import current as current_backend
from .._clock.scenario_clock import ScenarioClock, scenario_clock
from .._errors import NotAnASGIApp
from .._result import DisconnectResult, Entry
from .._settings import Settings
from .._types import ASGIApp
from .app_call import app_name
from .machine import CANCEL_GRACE, INTERRUPT_GRACE, Plan, Scenario, interrupt_after
from .serving import Serving, in_process
from .watching import end_of_run, restore_patches

__all__ = ["CANCEL_GRACE", "INTERRUPT_GRACE", "Started", "check_app", "drive", "end_of_run", "interrupt_after",
           "restore_patches", "start"]

#: Signatures already found callable as app(scope, receive, send), by code object or
#: class: inspect.signature() would otherwise be a quarter of a scenario's cost.
_ACCEPTED: set[object] = set()


def _signature_key(app: object) -> object:
    code = getattr(app, "__code__", None)
    if code is not None:
        return code
    if not isinstance(app, type) and callable(app) and not hasattr(app, "func"):
        return type(app)  # an instance of a callable class: its __call__ decides
    return None  # functools.partial and the like: the signature depends on the instance


def check_app(app: object) -> None:
    """Fail early, in plain words, on objects that cannot be an ASGI 3 app."""
    __tracebackhide__ = True
    key = _signature_key(app)
    if key is not None and key in _ACCEPTED:
        return
    if not callable(app):
        raise NotAnASGIApp(
            f"{app!r} is not an ASGI app: it is not callable. Pass the application object "
            "itself, e.g. `app` from `app = FastAPI()` or `app = Starlette(...)`."
        )
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # builtins and C callables: find out when called
        return
    try:
        signature.bind(object(), object(), object())
    except TypeError:
        hint = (" It looks like an ASGI 2 app (app(scope) returning a callable); wrap it with "
                "asgiref.compatibility.guarantee_single_callable()."
                if len(signature.parameters) == 1 else "")
        raise NotAnASGIApp(
            f"{app_name(app)} is not an ASGI app: it cannot be called as app(scope, receive, send); "
            f"its signature is {signature}.{hint}"
        ) from None
    if key is not None:
        _ACCEPTED.add(key)


async def drive(app: ASGIApp, request: Request, settings: Settings, *,
                allow: frozenset[str] = frozenset(), heavy: tuple[str, ...] = (),
                trigger: Trigger | None = None,
                entry: Entry = "fixture",
                state: Mapping[str, Any] | None = None,
                serving: Serving | None = None) -> DisconnectResult:
    """Run one scenario on the current event loop and return what happened.

    ``trigger`` overrides ``settings.after`` (CLIENT_DECIDES: a client that leaves
    by itself, through ``Channel.leave``; see start() for one that reads the response
    as it comes); ``state`` is
    the lifespan's state, copied into the request's scope; ``serving`` is the server
    that calls the app (in-process by default; live mode passes a real one).
    """
    plan = Plan(app, request, settings, settings.after if trigger is None else trigger,
                allow, heavy, entry, state, None)
    started = await _begin(plan, serving)
    return await started.finish()


class Started:
    """A scenario that start() began: the app runs; finish() runs the phases and returns the verdict."""

    __slots__ = ("_call", "_clock", "_scenario", "_serving", "began", "channel")

    def __init__(self, scenario: Scenario, clock: ScenarioClock, serving: Serving) -> None:
        self._scenario, self._clock, self._serving = scenario, clock, serving
        self._call = scenario.call  # kept here: a clean scenario lets go of its parts when it ends
        self.channel: Channel = scenario.channel
        #: The scenario's start on the loop's clock (the channel's times count from it).
        self.began = scenario.start

    @property
    def app_returned(self) -> bool:
        return self._call.returned_at is not None

    async def finish(self) -> DisconnectResult:
        """The phases from now on (their deadlines count from the start), then the verdict; once."""
        try:
            try:
                result = await self._scenario.conclude()
                self._scenario.release()  # a clean scenario is freed now, not by the cyclic GC
                return result
            finally:
                self._clock.stop()
        finally:
            if self._serving.has_hooks:
                await self._serving.close()


async def start(app: ASGIApp, request: Request, settings: Settings, client: ClientSide, *,
                trigger: Trigger, allow: frozenset[str] = frozenset(), heavy: tuple[str, ...] = (),
                entry: Entry = "transport", serving: Serving | None = None) -> Started:
    """drive() in two halves, for a client that reads the response as it comes (the transport's
    caller): the app is started in its own task, and the caller, not a task of ours, runs
    ``finish()`` when it is done with the response. ``client`` is given to the channel."""
    return await _begin(Plan(app, request, settings, trigger, allow, heavy, entry, None, client), serving)


async def _begin(plan: Plan, serving: Serving | None) -> Started:
    """The server opened, the clock started, the watch on and the app started: the first half."""
    backend = current_backend()
    serving = serving if serving is not None else in_process(plan.settings.server)
    if serving.has_hooks:
        await serving.open(backend.name)  # set-up, not part of the scenario: before its clock starts
    try:
        # The loop's own clock (what anyio.current_time() reads), bound once: done
        # callbacks and instrument hooks run where anyio cannot detect the backend.
        clock = scenario_clock(backend, plan.settings.clock)
        clock.start()  # before the start time: the virtual clock freezes from here
        try:
            scenario = Scenario(plan, backend, clock, serving)
            await scenario.begin()
        except BaseException:
            clock.stop()
            raise
    except BaseException:
        if serving.has_hooks:
            await serving.close()
        raise
    return Started(scenario, clock, serving)
