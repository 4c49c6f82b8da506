"""Sweep one endpoint: find the simplest valid request, then search disconnect moments for a failure.

1. A valid request: requests are drawn simplest first and sent without a
   disconnect until one gets an answer below 400. None in the budget: the
   route is skipped, naming the answers it got.
2. Moments: Hypothesis draws from ``strategies.moments()`` (request events, then
   times up to how long the valid request took) and shrinks a failure to the
   simplest moment. The budget bounds both the examples and the wall-clock
   seconds; once the seconds are spent the remaining examples are rejected.
"""

from __future__ import annotations

import json as jsonlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NoReturn, final

import pytest
from hypothesis import HealthCheck, Phase, find, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from .._asgi.routes import Route
from .._asgi.trigger import Trigger
from .._errors import HandlerKeptRunning, LifespanError
from .._fronts.fixture import Disconnect
from .._report.text import failure_message, headline
from .._result import DisconnectResult
from .._settings import OPTIONS, Settings, Source, apply
from .._types import ASGIApp
from ..strategies import moments
from .config import RoutePlan
from .requests import NotGenerated, SweepRequest, requests_for

#: Where a sweep's own settings come from, in provenance ('clock=virtual (the sweep)').
SWEEP_SOURCE = Source("sweep")
SEARCH_SOURCE = Source("sweep", "'s search")
#: The simplest valid request, its span on the scenario's clock, what a second of it costs in real time,
#: and whether it finished (False: still at work when the watch ended, cancelled by the harness).
Probe = tuple[SweepRequest, float, float, bool]
ROUTES_SOURCE = Source("sweep", " rule in disconnect_sweep_routes")
#: The real clock a virtual-clock failure is replayed on ('clock=real (the sweep's check)').
CHECK_SOURCE = Source("sweep", "'s check of a virtual-clock failure")
_CLOCK = next(spec for spec in OPTIONS if spec.name == "clock")


@final
@dataclass(frozen=True)
class Found:
    """The search's outcome for one endpoint."""

    request: SweepRequest
    examples: int
    #: The simplest failing scenario, or None if every moment passed.
    failure: DisconnectResult | None
    #: Seconds the valid request took without a disconnect (the span times were drawn from).
    span: float
    #: Why this verdict is the real clock's, when the virtual clock's failure did not replay there.
    note: str | None = None


def route_settings(base: Settings, plan: RoutePlan) -> Settings:
    """The run's settings, the virtual clock unless the run chose a clock, then the route's rule."""
    settings = base
    if base.source("clock") == "default":
        settings = apply(settings, SWEEP_SOURCE, {"clock": "virtual"})
    if plan.settings:
        settings = apply(settings, ROUTES_SOURCE, plan.settings)
    return settings


def sweep_endpoint(app: ASGIApp, route: Route, method: str, plan: RoutePlan, settings: Settings,
                   record: Callable[[DisconnectResult], None] | None) -> Found:
    """Probe, search, shrink. Skips (pytest.skip) a route without a valid request."""
    __tracebackhide__ = True
    if plan.skip is not None:
        _skip(plan.skip)
    try:
        requests = requests_for(route, method, path=plan.path, params=plan.params,
                                query=plan.query)
    except NotGenerated as exc:
        _skip(f"{method} {route.path}: {exc}")
    endpoint = f"{method} {route.path}"
    if settings.source("clock") != SWEEP_SOURCE.origin(_CLOCK):
        return _search(app, settings, requests, plan, record, endpoint)
    probe = _valid_request(app, settings, requests, plan, endpoint)
    unseen = _unseen_work(app, settings, probe, plan, record, endpoint)
    if unseen is not None:
        return unseen
    held: list[DisconnectResult] = []  # reported only if the virtual clock's verdict stands
    found = _search(app, settings, requests, plan, held.append, endpoint, probe=probe)
    if found.failure is not None:
        checked = _checked_on_real_clock(app, settings, found, plan, record, endpoint)
        if checked is not None:
            return checked
    for result in held if record is not None else ():
        record(result)  # type: ignore[misc]
    return found


def _unseen_work(app: ASGIApp, settings: Settings, probe: Probe, plan: RoutePlan,
                 record: Callable[[DisconnectResult], None] | None, endpoint: str) -> Found | None:
    """The request, sent with nobody leaving, never finished on the sweep's virtual clock: if it does on
    the real clock, the virtual clock jumped past work it cannot see, and the route is searched on the
    real clock from the start (a search on the virtual clock would cancel that work at the watch limit,
    mid-query, and leave the app's database locked for the next scenarios)."""
    __tracebackhide__ = True
    request, _, _, finished = probe
    if finished:
        return None
    real = apply(settings, CHECK_SOURCE, {"clock": "real"})
    result = _send(real, app, request, plan, Trigger.never())
    ended = result.response_complete_at or result.returned_at
    if ended is None or result.cancelled_at is not None:
        return None  # long work on both clocks: the virtual clock's search is the fast one
    note = (f"{endpoint}: searched on the real clock, because the request was still at work when the watch "
            f"ended ({settings.watch_limit:.2f} s) on the virtual clock and finished in {ended:.2f} s on the real "
            f"one: work the virtual clock cannot see, such as a thread the request did not start")
    return replace(_search(app, real, st.just(request), plan, record, endpoint), note=note)


def _checked_on_real_clock(app: ASGIApp, settings: Settings, found: Found, plan: RoutePlan,
                           record: Callable[[DisconnectResult], None] | None, endpoint: str) -> Found | None:
    """A failure the sweep's own virtual clock found, replayed on the real clock before it is reported.

    The virtual clock jumps whenever it sees no real work in flight, and it cannot see work in a
    thread the request did not start (a pooled database connection's worker, as aiosqlite keeps):
    it jumps to the watch limit while the query runs, a false 'kept running'. A failure that
    replays stands (None: its exact virtual numbers are reported); one that does not sends the
    route's search to the real clock, whose verdict is returned with the reason.
    """
    __tracebackhide__ = True
    failure = found.failure
    assert failure is not None
    real = apply(settings, CHECK_SOURCE, {"clock": "real"})
    if not _send(real, app, found.request, plan, failure.settings.after).passed:
        return None
    note = (f"{endpoint}: searched on the real clock, because the virtual clock's failure at "
            f"after={failure.settings.show('after')} did not happen there ({headline(failure)})")
    return replace(_search(app, real, st.just(found.request), plan, record, endpoint), note=note)


def _search(app: ASGIApp, settings: Settings, requests: st.SearchStrategy[SweepRequest], plan: RoutePlan,
            record: Callable[[DisconnectResult], None] | None, endpoint: str, *, probe: Probe | None = None) -> Found:
    __tracebackhide__ = True
    request, span, rate, _ = probe or _valid_request(app, settings, requests, plan, endpoint)
    deadline = time.monotonic() + plan.budget.seconds
    resolution = max(0.01, round(span / 20, 2))
    examples = 0
    failing: list[DisconnectResult] = []

    @hypothesis_settings(max_examples=plan.budget.examples, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False,
                         phases=(Phase.explicit, Phase.generate, Phase.shrink))
    @given(moment=moments(max_value=max(span, resolution), resolution=resolution))
    def search(moment: Trigger) -> None:
        nonlocal examples
        # Once the route's seconds are spent, or would be by this moment (a route that keeps the virtual
        # clock at the real rate pays for a late moment in real seconds), the rest is rejected. A
        # failure is always shrunk and replayed.
        at = span if moment.kind in ("response-start", "response-chunks") else (moment.seconds or 0.0)
        cost = at * rate
        if time.monotonic() + cost > deadline and not failing:
            reject()
        examples += 1
        result = _send(settings, app, request, plan, moment)
        if result.verdict == "not-disconnected":
            reject()  # the app never reached this moment within the watch: it tells nothing
        if record is not None:
            record(result)
        if not result.passed:
            failing.append(result)
            raise HandlerKeptRunning(failure_message(result), result)

    try:
        search()
    except HandlerKeptRunning:
        # Hypothesis replays the shrunk example last: the last failure is the simplest.
        return Found(request, examples, failing[-1], span)
    except Exception as exc:
        if failing:  # e.g. Flaky: a moment that failed once and passed on replay; report the failure seen
            return Found(request, examples, failing[-1], span)
        if not isinstance(exc, Unsatisfiable) or not examples:
            raise
        # Unsatisfiable after some examples: the seconds ran out, and what was tried passed.
    return Found(request, examples, None, span)


def _send(settings: Settings, app: ASGIApp, request: SweepRequest, plan: RoutePlan,
          moment: Trigger) -> DisconnectResult:
    body = b"null" if request.has_json and request.json is None else b""
    ruled = {name.lower() for name in plan.headers}
    headers = [(name, value) for name, value in request.headers if name.lower() not in ruled]
    headers += list(plan.headers.items())
    if body:
        headers.append(("content-type", "application/json"))
    # A fresh Disconnect, and so a fresh lifespan, per scenario: what one example left in the
    # app's state (a cache the probe warmed) must not hide the work from the next, and a
    # shrunk example must replay as it first ran.
    disconnect = Disconnect(apply(settings, SEARCH_SOURCE, {"after": moment}))
    try:
        return disconnect.run(app, request.method, request.path, json=request.json, body=body,
                              headers=headers or None, allow=plan.allow, check=False)
    finally:
        disconnect.close()


def _valid_request(app: ASGIApp, settings: Settings, requests: st.SearchStrategy[SweepRequest],
                   plan: RoutePlan, endpoint: str) -> Probe:
    """The simplest request the app answers below 400 when nobody leaves, how long it took (seconds on
    the scenario's clock), and what a second of it cost in real time (near 0 on the virtual clock)."""
    __tracebackhide__ = True
    seen: list[str] = []
    spans: dict[str, tuple[float, float, bool]] = {}

    verdicts: dict[str, bool] = {}

    def valid(request: SweepRequest) -> bool:
        key = repr(request)
        if key not in verdicts:  # find() asks again about the one it returns: do not send it twice
            verdicts[key] = sent_and_answered(request)
        return verdicts[key]

    def sent_and_answered(request: SweepRequest) -> bool:
        began = time.monotonic()
        failed: LifespanError | None = None
        try:
            result = _send(settings, app, request, plan, Trigger.never())
        except LifespanError as exc:  # no request was sent: nothing of the route was tested
            failed = exc
        except Exception as exc:  # the app raised: not a request it accepts
            _note(seen, f"{request.describe()} -> raised {type(exc).__name__}")
            return False
        if failed is not None:  # outside the except: its message already holds the cause
            pytest.fail(f"{endpoint}: the app's lifespan failed, so the route was not swept: {failed}", pytrace=False)
        status = result.status
        if result.app_error is not None and status is None:
            _note(seen, f"{request.describe()} -> raised {type(result.app_error).__name__}")
            return False
        # Valid: answered below 400, or still at work when the watch ended (the work we want to test).
        if status is None and result.cancelled_at is None:
            _note(seen, f"{request.describe()} -> no answer")
            return False
        if status is not None and status >= 400:
            _note(seen, f"{request.describe()} -> {status}")
            return False
        ended = result.response_complete_at or result.returned_at
        span = ended if ended is not None else result.settings.watch_limit
        finished = ended is not None and result.cancelled_at is None
        spans[repr(request)] = (span, (time.monotonic() - began) / max(span, 0.01), finished)
        return True

    try:
        request = find(requests, valid, settings=hypothesis_settings(
            max_examples=plan.budget.examples, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink)))
    except (NoSuchExample, Unsatisfiable):  # Unsatisfiable: every drawn request was filtered out
        shown = "; ".join(seen[:3]) + (f"; {len(seen) - 3} more" if len(seen) > 3 else "") or "none could be drawn"
        _skip(f"{endpoint}: no valid request in {plan.budget.examples} generated ({shown}); "
                    f"give it with a 'param=', 'query=', 'header=' or 'path=' rule in disconnect_sweep_routes")
    span, rate, finished = spans.get(repr(request), (1.0, 1.0, True))
    return request, max(0.01, math.ceil(span * 100) / 100), min(rate, 1.0), finished


def _skip(reason: str) -> NoReturn:
    """Skip the test, reported at the handler (the item's location), not at this line."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _note(seen: list[str], text: str) -> None:
    if text not in seen:
        seen.append(text)


def found_json(found: Found) -> str:
    return jsonlib.dumps({"request": found.request.to_json(), "examples": found.examples})
