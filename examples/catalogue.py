"""The bug catalogue: one small app for each known disconnect bug an ASGI test can reproduce.

docs/how-it-works.md lists thirteen bugs users meet when a client leaves (B1-B13). Each one that can
be reproduced in-process has an app here, named after its item (``b1_...``, ``b2_...``),
with a docstring that says the bug and the real-world code it stands for. Where the fix
is short, the fixed twin follows it, as in escapes.py. The apps are plain ASGI callables;
where a framework is part of the bug (Starlette's middleware, streaming responses and
background tasks, FastAPI's body parsing), the callable hands the request to a one-route
Starlette or FastAPI app defined just above it.

Each heavy job is a short stand-in (1 s of ``anyio.sleep`` or of ``time.sleep(0.05)``
steps in a thread), so the tests in test_catalogue.py run in seconds. Some apps record a
side effect the tests check (a report built, a receipt sent, a lock released).
Run them with:  python -m pytest examples/test_catalogue.py -rA
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
from app import cancel_on_disconnect
from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WORK = 1.0  # seconds of awaited stand-in work (a slow query, a model call)
STEP = 0.05  # seconds per blocking step of work in a thread
STEPS = 20  # 20 x 50 ms: 1 s of blocking work
TICK = 0.05  # seconds between the chunks of a stream

#: Side effects the tests check; test_catalogue.py empties them before each test.
REPORTS_BUILT: list[str] = []
RECEIPTS_SENT: list[int] = []
OUTBOX: list[int] = []
TRANSCRIPT: list[str] = []
LOCKS_RELEASED: list[str] = []


async def build_report() -> dict[str, int]:
    """A stand-in for 1 s of awaited work. Records the report once it is built in full."""
    await anyio.sleep(WORK)
    REPORTS_BUILT.append("report")
    return {"rows": 1000}


def crunch_step() -> None:
    """One 50 ms step of blocking work (CPU, a sync database driver)."""
    time.sleep(STEP)


async def answer(send: Send, body: bytes, status: int = 200) -> None:
    """Send a whole plain-text response."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


# B1. A handler with no disconnect handling ------------------------------------------------

_b1 = FastAPI()


@_b1.get("/report")
async def _report() -> dict[str, int]:
    return await build_report()


@_b1.get("/report-cancelled")
async def _report_cancelled(request: Request) -> dict[str, int] | None:
    async with cancel_on_disconnect(request):
        return await build_report()
    return None  # the client left and the work was cancelled


async def b1_no_disconnect_handling(scope: Scope, receive: Receive, send: Send) -> None:
    """B1: an ``async def`` endpoint that awaits its work and never looks at the connection.

    The most common handler there is (``return await slow_query()``): when the client
    leaves, the work runs to the end and its answer goes to nobody. GET /report.
    The fix, GET /report-cancelled, awaits the work inside app.py's cancel_on_disconnect().
    """
    await _b1(scope, receive, send)


# B2. BaseHTTPMiddleware hides the disconnect from is_disconnected() ----------------------


async def _poll_while_working(request: Request) -> Response:
    # The blog's polling pattern done politely: one step of work, then a look at the client.
    for _ in range(int(WORK / TICK)):
        if await request.is_disconnected():
            return Response(status_code=204)
        await anyio.sleep(TICK)
    REPORTS_BUILT.append("report")
    return PlainTextResponse("done")


class _TimingMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = anyio.current_time()
        response = await call_next(request)
        response.headers["x-process-time"] = f"{anyio.current_time() - started:.3f}"
        return response


_b2 = Starlette(routes=[Route("/report", _poll_while_working)], middleware=[Middleware(_TimingMiddleware)])


async def b2_middleware_hides_the_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """B2: an endpoint that polls ``request.is_disconnected()``, behind a ``BaseHTTPMiddleware``.

    The middleware (here the timing header of FastAPI's docs; ``@app.middleware("http")``
    is the same) hands the endpoint a ``receive()`` that goes through a task group: a
    checkpoint, so ``is_disconnected()`` never sees the disconnect and the poll loop runs
    to the end of the work. GET /report.
    """
    await _b2(scope, receive, send)


class _PureTimingMiddleware:
    """The same timing header as a pure ASGI middleware: it leaves ``receive()`` alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = anyio.current_time()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"{anyio.current_time() - started:.3f}".encode()
                message = {**message, "headers": [*message.get("headers", []), (b"x-process-time", took)]}
            await send(message)

        await self.app(scope, receive, send_timed)


_b2_fixed = Starlette(routes=[Route("/report", _poll_while_working)], middleware=[Middleware(_PureTimingMiddleware)])


async def b2_pure_asgi_middleware(scope: Scope, receive: Receive, send: Send) -> None:
    """B2 fixed: the same endpoint behind a pure ASGI middleware; the poll sees the disconnect."""
    await _b2_fixed(scope, receive, send)


# B3. is_disconnected() before reading the body eats the body ----------------------------


async def _upload_polls_first(request: Request) -> Response:
    if await request.is_disconnected():  # "don't start if the client is gone": reads a body chunk
        return Response(status_code=204)
    body = await request.body()
    return PlainTextResponse(f"stored {len(body)} B")


async def _upload_reads_first(request: Request) -> Response:
    body = await request.body()
    if await request.is_disconnected():
        return Response(status_code=204)
    return PlainTextResponse(f"stored {len(body)} B")


_b3 = Starlette(routes=[Route("/upload", _upload_polls_first, methods=["POST"])])
_b3_fixed = Starlette(routes=[Route("/upload", _upload_reads_first, methods=["POST"])])


async def b3_poll_before_the_body(scope: Scope, receive: Receive, send: Send) -> None:
    """B3: an upload endpoint that checks ``is_disconnected()`` before ``await request.body()``.

    ``is_disconnected()`` reads one message and keeps it only if it is ``http.disconnect``:
    a body chunk it reads is thrown away. The upload is stored short, or, when the body was
    one chunk, the endpoint waits for a body that never comes. POST /upload.
    """
    await _b3(scope, receive, send)


async def b3_body_first(scope: Scope, receive: Receive, send: Send) -> None:
    """B3 fixed: read the body first, then poll."""
    await _b3_fixed(scope, receive, send)


# B4. A send-only streaming loop that never calls receive() ------------------------------


async def b4_send_only_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """B4: a raw ASGI stream of 20 ticks that only ever calls ``send()``.

    Progress bars, log tails and hand-rolled event streams look like this. Under uvicorn
    and hypercorn a late ``send()`` returns silently, so nothing tells the loop the client
    left and it streams to the end; under a spec 2.4 server ``send()`` raises an OSError
    and the loop stops there. GET /ticks.
    """
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(int(WORK / TICK)):
        await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
        await anyio.sleep(TICK)
    await send({"type": "http.response.body", "body": b""})


async def b4_stream_that_listens(scope: Scope, receive: Receive, send: Send) -> None:
    """B4 fixed: the same loop, with a task that waits in ``receive()`` and cancels it."""
    async with anyio.create_task_group() as group:

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(listen)
        await b4_send_only_stream(scope, receive, send)
        group.cancel_scope.cancel()


# B5. A sync generator in StreamingResponse ----------------------------------------------

PAGE_STEPS = STEPS  # each page of the export is 1 s of blocking work
PAGES = 2


def _export_rows() -> Iterator[bytes]:
    yield b"id,total\n"
    for page in range(PAGES):
        for _ in range(PAGE_STEPS):  # a page of rows from a blocking database cursor
            crunch_step()
        yield f"{page},42\n".encode()


def _export_rows_checking() -> Iterator[bytes]:
    yield b"id,total\n"
    for page in range(PAGES):
        for _ in range(PAGE_STEPS):
            anyio.from_thread.check_cancelled()  # raises here once Starlette cancelled the stream
            crunch_step()
        yield f"{page},42\n".encode()


async def _export(request: Request) -> Response:
    return StreamingResponse(_export_rows(), media_type="text/csv")


async def _export_checking(request: Request) -> Response:
    return StreamingResponse(_export_rows_checking(), media_type="text/csv")


_b5 = Starlette(routes=[Route("/export.csv", _export), Route("/export-checking.csv", _export_checking)])


async def b5_sync_generator_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """B5: a CSV export streamed from a sync generator that reads a blocking cursor.

    Starlette runs each ``next()`` of a sync generator in a worker thread. When it stops
    the stream (it listens for the disconnect below spec 2.4, and waits for ``send()`` to
    raise from 2.4 on), the page in progress is not interrupted: cancellation does not
    reach the thread, so the work runs on to the end of the page. GET /export.csv.
    The fix, GET /export-checking.csv, calls ``anyio.from_thread.check_cancelled()`` between
    steps: the thread raises as soon as Starlette cancels the stream. Under spec 2.4
    Starlette does not cancel it, so the check has nothing to see there.
    """
    await _b5(scope, receive, send)


# B6. A `def` endpoint: the threadpool work outlives the request -------------------------

_b6 = FastAPI()


@_b6.get("/sync-report")
def _sync_report() -> dict[str, int]:
    for _ in range(STEPS):
        crunch_step()
    return {"steps": STEPS}


async def b6_def_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """B6: a sync ``def`` FastAPI endpoint; FastAPI runs it in a worker thread, to the end.

    Every ``def`` endpoint with a blocking driver is this. Nothing can stop a thread from
    outside: the client leaves, the thread works on. GET /sync-report. The fixes are
    cases 1 and 2 of escapes.py (a thread that checks for cancellation, or a stop event).
    """
    await _b6(scope, receive, send)


# B7. A BackgroundTask that must survive the client, or must not ------------------------

RECEIPT = 0.5  # seconds it takes to send a receipt


async def send_receipt(order_id: int) -> None:
    """Email the receipt: must happen once the order is placed, whether the client waits or not."""
    await anyio.sleep(RECEIPT)
    RECEIPTS_SENT.append(order_id)


class Order(BaseModel):
    item: str


_b7 = FastAPI()


@_b7.post("/orders", status_code=201)
async def _place_order(order: Order, background: BackgroundTasks) -> dict[str, int]:
    background.add_task(send_receipt, 1)
    return {"order_id": 1}


@_b7.post("/orders-outbox", status_code=201)
async def _place_order_outbox(order: Order) -> dict[str, int]:
    OUTBOX.append(1)  # stands in for a row written in the order's transaction; a worker sends it
    return {"order_id": 1}


async def b7_background_receipt(scope: Scope, receive: Receive, send: Send) -> None:
    """B7: an order endpoint that sends the receipt in a ``BackgroundTask``.

    Starlette runs the background task inside the app call, after the response. It is work
    that outlives the client on purpose, so a test must allow it by name; and it only runs
    if sending the response worked: under a spec 2.4 server, where ``send()`` raises once
    the client left, the receipt is never sent. POST /orders.
    The fix for work that must survive, POST /orders-outbox, records it in an outbox (a
    table a worker reads) before answering, so it does not depend on the response.
    """
    await _b7(scope, receive, send)


# B9. A disconnect mid-upload becomes a 400 or a 500 sent to nobody ---------------------


class Item(BaseModel):
    name: str


_b9_fastapi = FastAPI()


@_b9_fastapi.post("/items")
async def _create_item(item: Item) -> Item:
    return item


async def b9_fastapi_body_param(scope: Scope, receive: Receive, send: Send) -> None:
    """B9: a FastAPI endpoint with a body parameter; the client leaves mid-upload.

    Reading the rest of the body raises Starlette's ``ClientDisconnect``, which FastAPI
    turns into "400 There was an error parsing the body": an answer to nobody, which every
    metrics or tracing middleware counts as a client error that never happened. POST /items.
    """
    await _b9_fastapi(scope, receive, send)


async def _create_item_by_hand(request: Request) -> Response:
    return JSONResponse(await request.json())


_b9_starlette = Starlette(routes=[Route("/items", _create_item_by_hand, methods=["POST"])])


async def b9_starlette_request_json(scope: Scope, receive: Receive, send: Send) -> None:
    """B9 in Starlette: ``await request.json()`` raises ``ClientDisconnect`` mid-upload.

    Starlette's error middleware answers 500 to nobody and re-raises, so the server logs
    "Exception in ASGI application" for every client that gives up mid-upload. POST /items.
    """
    await _b9_starlette(scope, receive, send)


def no_answer_once_gone(app: ASGIApp) -> ASGIApp:
    """A pure ASGI middleware: once ``receive()`` said the client left, the app answers nothing.

    It drops the app's response and the ``ClientDisconnect`` it raises for the departed
    client; the server (and every middleware outside this one) then sees a request that
    ended without an answer, which uvicorn neither logs nor counts.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        gone = False

        async def watched_receive() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or message["type"] == "http.disconnect"
            return message

        async def send_if_there(message: Message) -> None:
            if not gone:
                await send(message)

        try:
            await app(scope, watched_receive, send_if_there)
        except ClientDisconnect:
            if not gone:
                raise

    return wrapped


b9_fastapi_fixed = no_answer_once_gone(_b9_fastapi)
"""B9 fixed: the FastAPI app behind no_answer_once_gone()."""
b9_starlette_fixed = no_answer_once_gone(_b9_starlette)
"""B9 fixed: the Starlette app behind no_answer_once_gone()."""


# B10. A zombie producer task behind a tee ----------------------------------------------

TOKENS = 20  # the upstream's answer: 20 tokens, one every TICK seconds


async def _upstream(out: asyncio.Queue[str | None]) -> None:
    # The producer: pulls from an upstream (a model, another service) and tees each token
    # to the client's queue and to the transcript.
    for number in range(TOKENS):
        await anyio.sleep(TICK)
        token = f"token {number}"
        TRANSCRIPT.append(token)
        await out.put(token)
    await out.put(None)


#: Fire-and-forget tasks, kept referenced as the asyncio docs advise (else they may be collected).
_PRODUCERS: set[asyncio.Task[None]] = set()


async def _feed(request: Request) -> Response:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    producer = asyncio.create_task(_upstream(queue))  # BUG: nothing stops it when the response stops
    _PRODUCERS.add(producer)
    producer.add_done_callback(_PRODUCERS.discard)

    async def tokens() -> AsyncIterator[str]:
        while (token := await queue.get()) is not None:
            yield f"data: {token}\n\n"

    return StreamingResponse(tokens(), media_type="text/event-stream")


class _StreamWithProducer(StreamingResponse):
    """A StreamingResponse that starts its producer and stops it when the response ends.

    However the response ends (the stream ran out, Starlette cancelled it because the
    client left, or ``send()`` raised under spec 2.4), the ``finally`` runs at once.
    """

    def __init__(self, content: AsyncIterator[str], producer: Coroutine[None, None, None],
                 media_type: str) -> None:
        super().__init__(content, media_type=media_type)
        self.producer = producer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.create_task(self.producer)
        try:
            await super().__call__(scope, receive, send)
        finally:
            producer.cancel()  # the stream is over: stop pulling


async def _feed_owns_producer(request: Request) -> Response:
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def tokens() -> AsyncIterator[str]:
        while (token := await queue.get()) is not None:
            yield f"data: {token}\n\n"

    return _StreamWithProducer(tokens(), _upstream(queue), media_type="text/event-stream")


_b10 = Starlette(routes=[Route("/feed", _feed), Route("/feed-owns-producer", _feed_owns_producer)])


async def b10_zombie_producer(scope: Scope, receive: Receive, send: Send) -> None:
    """B10: a streaming endpoint fed by a producer task that nobody owns.

    The shape of LLM proxies and fan-outs: ``asyncio.create_task(producer())`` pulls from
    the upstream and tees each token to a queue the response streams and to a transcript.
    When the client leaves, Starlette stops the response; the producer runs on, pulling and
    paying for tokens nobody reads. GET /feed. The fix, GET /feed-owns-producer, lets the
    response own the producer: it cancels it in a ``finally`` around the response call.
    (Cancelling it in the stream's ``finally`` is not enough: under spec 2.4 Starlette drops
    the generator when ``send()`` raises, and the ``finally`` runs only when the generator
    is garbage-collected.) asyncio only (asyncio.Queue).
    """
    await _b10(scope, receive, send)


# B11. A test that passes only because the harness cancelled the app ---------------------


async def b11_report_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """B11: B1's bug in a plain ASGI handler, tested through httpx: builds the report, then answers.

    With ``httpx.ASGITransport``, a test that gives up on the request (``move_on_after``)
    cancels the app itself: the handler stops "in time" without ever seeing a disconnect,
    and the test passes. ``DisconnectTransport`` tells the app through ``receive()`` instead,
    and the handler is caught. The bug is in the test, so there is no fixed app.
    """
    await build_report()
    await answer(send, b"report")


# B12. An endless stream -----------------------------------------------------------------

STREAM_LIFETIME = 1.0  # seconds a bounded event stream stays open before it asks the client to reconnect


async def _events(request: Request) -> Response:
    async def beats() -> AsyncIterator[str]:
        while True:  # until the client leaves: Starlette stops it then
            yield "data: beat\n\n"
            await anyio.sleep(TICK)

    return StreamingResponse(beats(), media_type="text/event-stream")


async def _events_with_a_lifetime(request: Request) -> Response:
    async def beats() -> AsyncIterator[str]:
        yield "retry: 100\n\n"  # EventSource reconnects 100 ms after the stream ends
        closes = anyio.current_time() + STREAM_LIFETIME
        while anyio.current_time() < closes:
            yield "data: beat\n\n"
            await anyio.sleep(TICK)

    return StreamingResponse(beats(), media_type="text/event-stream")


_b12 = Starlette(routes=[Route("/events", _events), Route("/events-with-a-lifetime", _events_with_a_lifetime)])


async def b12_endless_event_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """B12: a server-sent events endpoint that streams until the client leaves, forever.

    Starlette stops it when the client leaves. But at shutdown the client has not left:
    uvicorn's graceful shutdown waits for open responses to end (for ever, unless
    ``--timeout-graceful-shutdown`` is set), and this one never ends, so a deploy hangs
    until the process is killed. GET /events. The fix, GET /events-with-a-lifetime, ends
    each stream after a while and lets the browser's ``EventSource`` reconnect (``retry:``).
    """
    await _b12(scope, receive, send)


async def b12_raw_endless_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """B12, raw: an endless send-only loop (B4 without an end); only a raising ``send()`` stops it."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    while True:
        await send({"type": "http.response.body", "body": b"data: beat\n\n", "more_body": True})
        await anyio.sleep(TICK)


# B13. Cleanup after the cancel is cancelled again ---------------------------------------

CLEANUP = 0.01  # seconds the cleanup awaits (a database round trip)


async def release_lock(job: str) -> None:
    """Release the job's lock: one awaited round trip, then recorded."""
    await anyio.sleep(CLEANUP)
    LOCKS_RELEASED.append(job)


async def _run_job(request: Request) -> Response:
    async with cancel_on_disconnect(request):
        try:
            await anyio.sleep(WORK)  # the job
        finally:
            await release_lock("job")  # BUG: cancelled again at its first await
    return PlainTextResponse("ok")


async def _run_job_shielded(request: Request) -> Response:
    async with cancel_on_disconnect(request):
        try:
            await anyio.sleep(WORK)
        finally:
            with anyio.CancelScope(shield=True):  # the fix: the cancel does not reach inside
                await release_lock("job")
    return PlainTextResponse("ok")


_b13 = Starlette(routes=[Route("/jobs", _run_job, methods=["POST"]),
                         Route("/jobs-shielded", _run_job_shielded, methods=["POST"])])


async def b13_cleanup_cancelled_again(scope: Scope, receive: Receive, send: Send) -> None:
    """B13: a job that releases its lock in ``finally`` with an ``await``, inside a cancel scope.

    anyio's cancellation is level-triggered: inside a cancelled scope every ``await``
    raises again, so cleanup that awaits (rollback, unlock, "job cancelled" log) is cut
    short at its first checkpoint and the lock stays held. (asyncio's ``task.cancel()``
    raises once; a cancel scope keeps raising.) POST /jobs. The fix, POST /jobs-shielded,
    runs the cleanup in ``anyio.CancelScope(shield=True)``.
    """
    await _b13(scope, receive, send)



# Every scenario above, for tools that run them all -----------------------------------------


@dataclass(frozen=True)
class Case:
    """One scenario of the catalogue, as test_catalogue.py runs it (on the real clock).

    scripts/agreement.py runs each in-process and behind a real server and compares them.
    """

    name: str
    app: ASGIApp
    method: str
    path: str
    options: Mapping[str, object] = field(default_factory=dict)


#: The client leaves 0.2 s in; the work may run on 0.3 s (test_catalogue.py's marker).
_LEAVES = {"after": 0.2, "tolerance": 0.3}
_ORDER = {"json": {"item": "teapot"}, "after": "body-read", "tolerance": 0.3}
_MID_UPLOAD = {"body": [b'{"name": ', b'"tea', b'pot"}'], "headers": {"content-type": "application/json"},
               "after": "request-chunks:1"}
_STAYS = {"after": "never", "patience": 2.0}

CASES: tuple[Case, ...] = (
    Case("b1 no disconnect handling", b1_no_disconnect_handling, "GET", "/report", _LEAVES),
    Case("b1 fixed", b1_no_disconnect_handling, "GET", "/report-cancelled", _LEAVES),
    Case("b2 middleware hides the disconnect", b2_middleware_hides_the_disconnect, "GET", "/report", _LEAVES),
    Case("b2 fixed", b2_pure_asgi_middleware, "GET", "/report", _LEAVES),
    Case("b3 poll before the body", b3_poll_before_the_body, "POST", "/upload",
         {"body": [b"first;", b"second"], "after": "never"}),
    Case("b3 poll before a one-chunk body", b3_poll_before_the_body, "POST", "/upload",
         {"body": b"first;second", **_LEAVES}),
    Case("b3 fixed", b3_body_first, "POST", "/upload", {"body": [b"first;", b"second"], "after": "never"}),
    Case("b4 send-only stream", b4_send_only_stream, "GET", "/ticks", _LEAVES),
    Case("b4 fixed", b4_stream_that_listens, "GET", "/ticks", _LEAVES),
    Case("b5 sync generator stream", b5_sync_generator_stream, "GET", "/export.csv", _LEAVES),
    Case("b5 fixed", b5_sync_generator_stream, "GET", "/export-checking.csv", _LEAVES),
    Case("b6 def endpoint", b6_def_endpoint, "GET", "/sync-report", _LEAVES),
    Case("b7 background receipt", b7_background_receipt, "POST", "/orders", _ORDER),
    Case("b7 background receipt, allowed", b7_background_receipt, "POST", "/orders",
         {**_ORDER, "allow": ["send_receipt"]}),
    Case("b7 fixed", b7_background_receipt, "POST", "/orders-outbox", _ORDER),
    Case("b9 fastapi body param", b9_fastapi_body_param, "POST", "/items", _MID_UPLOAD),
    Case("b9 starlette request.json()", b9_starlette_request_json, "POST", "/items", _MID_UPLOAD),
    Case("b9 fixed, fastapi", b9_fastapi_fixed, "POST", "/items", _MID_UPLOAD),
    Case("b9 fixed, starlette", b9_starlette_fixed, "POST", "/items", _MID_UPLOAD),
    Case("b10 zombie producer", b10_zombie_producer, "GET", "/feed", _LEAVES),
    Case("b10 fixed", b10_zombie_producer, "GET", "/feed-owns-producer", _LEAVES),
    Case("b12 endless event stream", b12_endless_event_stream, "GET", "/events", _LEAVES),
    Case("b12 endless event stream, the client stays", b12_endless_event_stream, "GET", "/events", _STAYS),
    Case("b12 fixed, the client stays", b12_endless_event_stream, "GET", "/events-with-a-lifetime", _STAYS),
    Case("b12 raw endless stream", b12_raw_endless_stream, "GET", "/events", {**_LEAVES, "patience": 1.0}),
    Case("b13 cleanup cancelled again", b13_cleanup_cancelled_again, "POST", "/jobs",
         {**_LEAVES, "heavy": "catalogue:release_lock"}),
    Case("b13 fixed", b13_cleanup_cancelled_again, "POST", "/jobs-shielded",
         {**_LEAVES, "heavy": "catalogue:release_lock"}),
)
