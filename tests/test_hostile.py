"""No app can hang the run or poison the next test (tests/hostile_apps.py).

Each hostile app runs under run() and arun(), on asyncio and trio, on the real and the
virtual clock, in a pytester subprocess bounded by a timeout, so a regression fails
here instead of hanging the suite. After the scenarios a test in the same process looks
for threads still using CPU and for child processes left running.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HOSTILE_APPS = Path(__file__).with_name("hostile_apps.py")
#: Seconds the inner run may take before the test fails: generous, for a loaded machine. A
#: scenario takes about patience + two grace seconds; one that hangs would take forever.
GUARD = 240.0

INNER = '''
import os
import threading
import time

import pytest

import hostile_apps

SCENARIOS = [(how, backend, clock) for how in ("run", "arun") for backend in BACKENDS
             for clock in ("real", "virtual")]
OPTIONS = dict(after=0.1, tolerance=0.1, patience=0.3)


def _children():
    mine = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[1] == mine:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _thread_ticks():
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks[tid] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return ticks


def check_nothing_left():
    time.sleep(1.1)  # the watchdog thread lingers 1 s after the last scenario, then sleeps
    before = _thread_ticks()
    time.sleep(0.5)
    after = _thread_ticks()
    main = str(threading.main_thread().native_id)
    # A spinning thread gets 100+ ms of CPU in 0.5 s even on a loaded machine; a sleeping one none.
    busy = [tid for tid, ticks in after.items() if tid != main and ticks - before.get(tid, ticks) >= 5]
    assert busy == [], f"threads still using CPU: {busy}"
    assert _children() == [], "child processes left running"


def make(app_name, how, backend, clock):
    app = getattr(hostile_apps, app_name)
    if how == "run":
        def test(disconnect):
            disconnect.run(app, "GET", "/", clock=clock, backend=backend, **OPTIONS)
    else:
        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", [backend])
        async def test(disconnect, anyio_backend):
            await disconnect.arun(app, "GET", "/", clock=clock, **OPTIONS)
    return test


for number, (how, backend, clock) in enumerate(SCENARIOS):
    globals()[f"test_{number}_{how}_{backend}_{clock}"] = make(APP, how, backend, clock)


def test_next():  # what any scenario left running is still there: one check after them all
    check_nothing_left()
'''

#: Each hostile app, and the error its scenarios fail with.
APPS = {"swallows_cancellation": "HandlerKeptRunning", "receive_loop": "HandlerKeptRunning",
        "thread_sleeps_forever": "HandlerKeptRunning", "starts_a_thread": "HandlerKeptRunning",
        "starts_a_child": "HandlerKeptRunning",
        # The loop never answers: interrupted past the scenario's longest time (arun(), and run()'s
        # busy loop), or given up on (run()'s time.sleep(): its thread sleeps on, using no CPU).
        "blocks_loop_busy": "EventLoopBlocked", "blocks_loop_sleeping": "EventLoopBlocked",
        # asyncio only: its create_task() starts a task outside any task group (closed at the end).
        "spawns_a_stubborn_task": "HandlerKeptRunning", "spawns_an_unclosable_task": "HandlerKeptRunning"}
ASYNCIO_ONLY = {"spawns_a_stubborn_task", "spawns_an_unclosable_task"}


@pytest.mark.parametrize("app", APPS)
def test_a_hostile_app_fails_every_scenario_and_leaves_nothing_behind(pytester: pytest.Pytester, app: str) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    backends = ("asyncio",) if app in ASYNCIO_ONLY else ("asyncio", "trio")
    pytester.makepyfile(test_hostile_inner=f"APP = {app!r}\nBACKENDS = {backends!r}\n" + INNER)
    pytester.makepyfile(hostile_apps=HOSTILE_APPS.read_text())
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-W", "error",
                                           timeout=GUARD)
    scenarios = 4 * len(backends)
    result.assert_outcomes(failed=scenarios, passed=1)
    failures = [line for line in result.outlines if line.startswith("E   ") and "pytest_disconnect." in line]
    assert len(failures) == scenarios and all(APPS[app] in line for line in failures), failures
    if APPS[app] == "EventLoopBlocked":  # each names the app's line that blocks the loop
        assert result.stdout.str().count("hostile_apps.py:") >= scenarios and f"in {app} ->" in result.stdout.str()
    if app == "spawns_a_stubborn_task":  # named, with where it was, and closed
        result.stdout.fnmatch_lines(["*task _swallows_cancellation_forever: hostile_apps.py:* in "
                                     "_swallows_cancellation_forever -> await anyio.sleep(1)*"])
        assert result.stdout.str().count("harness closed task _swallows_cancellation_forever") == scenarios
        assert result.stdout.str().count("_swallows_cancellation_forever -> await anyio.sleep(1)  [closed by the "
                                         "harness at +") == scenarios  # not "still running"
    if app == "spawns_an_unclosable_task":  # parked: neither the loop's shutdown nor pytest's exit waits
        assert result.stdout.str().count("harness could not close task _swallows_everything_forever") == scenarios
        assert result.stdout.str().count("[ignored cancellation and GeneratorExit: parked by the harness at +") \
            == scenarios
    if app == "swallows_cancellation":  # the app call itself, abandoned where it went on
        assert "app: hostile_apps.py:" in result.stdout.str()
        assert result.stdout.str().count("[closed by the harness at +") == scenarios, result.stdout.str()


INTERRUPTED = '''
import pytest

import hostile_apps

OPTIONS = dict(after=0.1, tolerance=0.1, patience=600.0)


def test_sync(disconnect):
    disconnect.run(hostile_apps.starts_a_child, "GET", "/", backend=BACKEND, **OPTIONS)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [BACKEND])
async def test_async(disconnect, anyio_backend):
    await disconnect.arun(hostile_apps.starts_a_child, "GET", "/", **OPTIONS)
'''

#: ``python -m pytest`` with Ctrl-C as in a terminal's foreground. A suite run in the background
#: (``make test &``, ``nohup``) is started by the shell with SIGINT ignored; the inner pytest
#: inherits that, and Python installs its KeyboardInterrupt handler only when SIGINT is not
#: ignored at start-up: the Ctrl-C below would be lost and the test would wait out its guard.
FOREGROUND_PYTEST = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "import pytest; sys.exit(pytest.console_main())")


@pytest.mark.parametrize("how", ["sync", "async"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_after_ctrl_c_no_child_process_outlives_pytest(pytester: pytest.Pytester, how: str, backend: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from pytest_disconnect._watch.processes import state

    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(hostile_apps=HOSTILE_APPS.read_text())
    pytester.makepyfile(test_interrupted=f"BACKEND = {backend!r}\n" + INTERRUPTED)
    pid_file = pytester.path / "child.pid"
    env = {**os.environ, "HOSTILE_PID_FILE": str(pid_file), "PYTHONPATH": str(pytester.path),
           "PYTEST_ADDOPTS": "-p no:randomly -p no:cacheprovider"}
    run = subprocess.Popen([sys.executable, "-c", FOREGROUND_PYTEST, "-k", how], cwd=pytester.path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + GUARD
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a file another process writes: no event to wait on
        child = int(pid_file.read_text())
        run.send_signal(signal.SIGINT)  # Ctrl-C, mid-scenario: the app is polling its child
        output = run.communicate(timeout=GUARD)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert "KeyboardInterrupt" in output, output
    # Killed by the driver as the interrupt unwinds it (arun()), or at the end of the run, which says so.
    assert state(child) != "running", output
