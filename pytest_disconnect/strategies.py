"""Hypothesis strategies for disconnect moments, request bodies and server profiles.

::

    from hypothesis import given
    from pytest_disconnect import strategies as ds

    @given(moment=ds.moments(), body=ds.bodies())
    def test_upload_stops(disconnect, moment, body):
        disconnect.run(app, "POST", "/upload", after=moment, body=body)

Every strategy shrinks towards the simplest case: the earliest moment in the
request's life (the client leaving before the app read any of the body), an
empty body, the default server.

Time-based moments are drawn on a grid of ``resolution`` seconds, so a failing
time is a round number you can read and replay; but a time that lands close to
when the app finishes on its own can pass on one run and fail on the next
(scheduler jitter). Prefer event moments, which do not depend on timing, and
keep ``tolerance`` well away from the app's own timings. Hypothesis reports a
moment whose verdict changed between runs as ``Flaky``.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._asgi.servers import DEFAULT_SERVER, PROFILES
from ._asgi.trigger import Trigger

__all__ = ["bodies", "moments", "servers"]


def moments(
    *,
    min_value: float = 0.0,
    max_value: float = 1.0,
    resolution: float = 0.01,
    max_chunks: int = 3,
    events: bool = True,
    times: bool = True,
) -> st.SearchStrategy[Trigger]:
    """Disconnect moments that ``run()``/``arun()`` accept as ``after=``.

    Event moments, in the order of a request's life: after ``k`` request body
    chunks (``0 <= k <= max_chunks``; mid-upload), after the whole body was read,
    after ``http.response.start``, after ``k`` response body chunks
    (``1 <= k <= max_chunks``). Time moments: seconds in ``[min_value, max_value]``
    on a grid of ``resolution`` seconds. Shrinks towards the earliest event.
    """
    _check_number("min_value", min_value, minimum=0.0)
    _check_number("max_value", max_value, minimum=0.0)
    _check_number("resolution", resolution, minimum=0.0, strict=True)
    if min_value > max_value:
        raise InvalidArgument(f"min_value={min_value!r} is greater than max_value={max_value!r}")
    if isinstance(max_chunks, bool) or not isinstance(max_chunks, int) or max_chunks < 1:
        raise InvalidArgument(f"max_chunks={max_chunks!r} must be a whole number >= 1")
    if not (events or times):
        raise InvalidArgument("events=False and times=False leave no moments to draw")
    choices: list[st.SearchStrategy[Trigger]] = []
    if events:
        # One flat list, so each event is as likely as any other (a narrow window such as
        # 'after exactly 2 request chunks' is found quickly) and shrinking goes to the earliest.
        choices.append(st.sampled_from([
            *(Trigger.after_request_chunks(count) for count in range(max_chunks + 1)),
            Trigger.after_body_read(),
            Trigger.after_response_start(),
            *(Trigger.after_response_chunks(count) for count in range(1, max_chunks + 1)),
        ]))
    if times:
        steps = math.floor((max_value - min_value) / resolution + 1e-9)
        choices.append(st.integers(0, steps).map(
            lambda step: Trigger.at(round(min_value + step * resolution, 9))))
    return st.one_of(*choices)


def bodies(
    *, min_size: int = 0, max_size: int = 4, min_chunk_size: int = 0, max_chunk_size: int = 16,
) -> st.SearchStrategy[list[bytes]]:
    """Request bodies as lists of chunks (one ``http.request`` message each), for ``body=``.

    ``min_size``/``max_size`` bound the number of chunks, ``min_chunk_size``/
    ``max_chunk_size`` the bytes in each. Shrinks towards the empty body.
    """
    for name, value in (("min_size", min_size), ("max_size", max_size),
                        ("min_chunk_size", min_chunk_size), ("max_chunk_size", max_chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{name}={value!r} must be a whole number >= 0")
    if min_size > max_size:
        raise InvalidArgument(f"min_size={min_size!r} is greater than max_size={max_size!r}")
    if min_chunk_size > max_chunk_size:
        raise InvalidArgument(
            f"min_chunk_size={min_chunk_size!r} is greater than max_chunk_size={max_chunk_size!r}")
    chunk = st.binary(min_size=min_chunk_size, max_size=max_chunk_size)
    return st.lists(chunk, min_size=min_size, max_size=max_size)


def servers() -> st.SearchStrategy[str]:
    """Server profile names for ``server=``; shrinks towards the default (uvicorn)."""
    names = [DEFAULT_SERVER, *(name for name in PROFILES if name != DEFAULT_SERVER)]
    return st.sampled_from(names)


def _check_number(name: str, value: object, *, minimum: float, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be a finite number of seconds")
    if value < minimum or (strict and value == minimum):
        bound = ">" if strict else ">="
        raise InvalidArgument(f"{name}={value!r} must be {bound} {minimum:g}")
