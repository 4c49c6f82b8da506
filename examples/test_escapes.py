"""Example tests for escapes.py: work that cancellation does not reach, and the fixes.

Each broken endpoint fails with HandlerKeptRunning; the tests below catch that failure
to show its verdict and the report line that explains it. Each fixed twin passes.

Run them with:  python -m pytest examples/test_escapes.py -rA
(-rA prints each test's "disconnect" report section: for a broken case, the full
failure report that HandlerKeptRunning carries.)
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Literal

import escapes
import pytest
from escapes import app

from pytest_disconnect import Disconnect, HandlerKeptRunning

# The client leaves 0.2 s into each request; the work may run on for 0.3 s after that.
# The stand-in heavy work takes 1.2 s (a 5 s child process), so a handler that does not
# stop overruns the tolerance by far, and one that does stops within milliseconds.
pytestmark = pytest.mark.disconnect(after=0.2, tolerance=0.3)

Backend = Literal["asyncio", "trio"]
both_backends = pytest.mark.parametrize("backend", ["asyncio", "trio"])


DEAD = (b"Z", b"X")  # a zombie (exited, not reaped yet) or dead: no longer doing work


def _proc_stat(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (Linux); None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def running(pid: int) -> bool:
    """Whether process ``pid`` is still running."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in DEAD


def running_children() -> list[int]:
    """Child processes of this test process that are still running."""
    me = str(os.getpid()).encode()
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and (fields := _proc_stat(entry)) is not None
            and fields[1] == me and fields[0] not in DEAD]


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """After each test: no thread still runs escapes.py code, and no child process runs."""
    yield
    in_app = [
        ident for ident, frame in sys._current_frames().items()
        if any(f.f_code.co_filename == escapes.__file__ for f in _stack(frame))
    ]
    assert not in_app, "a thread is still running escapes.py code after the test"
    if os.path.isdir("/proc"):  # Linux
        assert not running_children(), "a child process outlived the test"


def _stack(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


# 1. A sync `def` endpoint ---------------------------------------------------------------


def test_sync_def_runs_to_the_end(disconnect: Disconnect) -> None:
    """A `def` endpoint runs its 1.2 s in a worker thread after the client left: caught, thread named."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/sync-def")
    report = str(caught.value)

    result = caught.value.result
    assert result.verdict == "kept-running"
    assert result.latency is not None and result.latency > 0.8  # 1.2 s of work - 0.2 s
    assert any(record.kind == "thread" for record in result.work)
    assert "escapes.py:" in report and "in crunch -> time.sleep(STEP)" in report


@both_backends
def test_thread_that_checks_for_cancellation_stops(disconnect: Disconnect, backend: Backend) -> None:
    """An `async def` endpoint whose thread calls check_cancelled() stops with the request."""
    result = disconnect.run(app, "GET", "/thread-checks-cancel", backend=backend)
    assert result.verdict == "stopped"
    thread = next(record for record in result.work if record.kind == "thread")
    assert thread.name == "crunch"
    assert thread.ended_at is not None and thread.ended_at < 1.0  # well before its 1.2 s of work


# 2. The blog's /with-context pattern, with the work in a thread -------------------------


def test_thread_behind_with_context_runs_on(disconnect: Disconnect) -> None:
    """task.cancel() ends the task awaiting asyncio.to_thread(), not the thread: caught, and said so."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/thread-with-context")
    report = str(caught.value)

    result = caught.value.result
    assert result.verdict == "kept-running"
    thread = next(record for record in result.work if record.kind == "thread")
    assert thread.owner_ended_at is not None and thread.owner_ended_at < 1.0  # the task was cancelled...
    assert thread.ended_at is not None and thread.ended_at > 1.0  # ...the thread crunched on
    assert re.search(r"The task waiting for thread crunch ended at \+\d+\.\d\d s, but the thread ran "
                     r"until \+\d+\.\d\d s: cancellation does not reach threads\.", report)


def test_thread_with_a_stop_event_stops(disconnect: Disconnect) -> None:
    """Setting a threading.Event the work checks, then awaiting the work, stops the thread (asyncio)."""
    result = disconnect.run(app, "GET", "/thread-with-stop-event")
    assert result.verdict == "stopped"
    thread = next(record for record in result.work if record.kind == "thread")
    assert thread.outcome == "raised Stopped"


# 3. Work in a child process: the "nuclear option" ---------------------------------------


@pytest.mark.disconnect(patience=0.5)  # kill the orphan 0.5 s after the disconnect, not 5 s
def test_child_process_left_running_is_caught_and_killed(disconnect: Disconnect) -> None:
    """A handler that stops waiting for its child but never kills it fails; the plugin kills the child."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/process-left-running")
    report = str(caught.value)

    result = caught.value.result
    assert result.verdict == "cancelled"  # still running at the watch limit: the harness stepped in
    process = next(record for record in result.work if record.kind == "process")
    pid = int(process.name.removeprefix("pid ").split(":", 1)[0])
    assert f"process pid {pid}: " in report and "time.sleep(5)" in report
    assert not running(pid)  # killed by the plugin: the orphan did not outlive the test


@both_backends
def test_child_process_killed_on_disconnect_stops(disconnect: Disconnect, backend: Backend) -> None:
    """Killing (and reaping) the child when the client leaves passes, on asyncio and trio."""
    result = disconnect.run(app, "GET", "/process-killed", backend=backend)
    assert result.verdict == "stopped"
    process = next(record for record in result.work if record.kind == "process")
    assert process.ended_at is not None and process.ended_at < 1.0  # long before its 5 s
    assert not running(int(process.name.removeprefix("pid ").split(":", 1)[0]))


# 4. A blocking call in an `async def` handler ---------------------------------------------


def test_blocked_event_loop_is_caught_and_located(disconnect: Disconnect) -> None:
    """time.sleep() in `async def` holds the loop for 1.5 s: caught, with how long and on which line."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/blocks-loop")
    report = str(caught.value)

    result = caught.value.result
    assert result.verdict == "kept-running"
    assert result.blocks and result.blocks[0].end - result.blocks[0].start > 1.0
    assert re.search(r"event loop blocked for \d+\.\d\d s at (examples/)?escapes\.py:\d+ in blocks_loop "
                     r"-> time\.sleep\(BLOCK\)", report)


@both_backends
def test_awaiting_instead_of_blocking_stops(disconnect: Disconnect, backend: Backend) -> None:
    """The same wait as `await anyio.sleep()` keeps the loop free: the disconnect cancels it at once."""
    result = disconnect.run(app, "GET", "/awaits-sleep", backend=backend)
    assert result.verdict == "stopped"
    assert not result.blocks


# 5. Naming the heavy work without editing the app ---------------------------------------


@both_backends
def test_heavy_work_is_cancelled(disconnect: Disconnect, backend: Backend) -> None:
    """heavy="escapes:crunch" watches crunch() wherever it runs: here it was cancelled in its thread."""
    result = disconnect.run(app, "GET", "/thread-checks-cancel", heavy="escapes:crunch", backend=backend)
    assert [record.outcome for record in result.heavy] == ["cancelled"]


def test_heavy_work_that_finished_anyway_is_reported(disconnect: Disconnect) -> None:
    """For the `def` endpoint the same heavy work is reported as finished anyway, after the client left."""
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(app, "GET", "/sync-def", heavy="escapes:crunch")
    result = caught.value.result
    assert [record.outcome for record in result.heavy] == ["finished"]
    assert "Heavy work crunch: finished anyway at +" in str(caught.value)
