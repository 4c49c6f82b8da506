"""The contract users see, through pytester: options, ini, markers, header, reports."""

from __future__ import annotations

import pytest

from pytest_disconnect._links import DOCS_URL
from pytest_disconnect._settings import MARKER_HELP

APP = '''
import anyio

async def sleepy(scope, receive, send):
    """Ignores the disconnect: works 0.6 s, then answers."""
    await anyio.sleep(0.6)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"late"})

async def good(scope, receive, send):
    while (await receive())["type"] != "http.disconnect":
        pass
'''

# Each test prints the settings its run() used, so the precedence shows in the output.
PROBE = '''
import pytest
from app import good

def show(disconnect, **kwargs):
    result = disconnect.run(good, "GET", "/", check=False, **kwargs)
    print("\\nSETTINGS", result.settings.describe())
'''


@pytest.fixture(autouse=True)
def quiet_pytest_asyncio(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-asyncio, when installed, warns at configure time unless this is set.

    Set after pytester, which clears PYTEST_ADDOPTS when it starts."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function -p no:randomly")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP)
    return pytester


def settings_lines(result: pytest.RunResult) -> list[str]:
    return [line.split("SETTINGS ", 1)[1] for line in result.outlines if line.startswith("SETTINGS ")]


class TestDiscoverability:
    def test_help_shows_the_options_in_their_own_group(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--help")
        result.stdout.fnmatch_lines([
            "disconnect: check that ASGI apps stop working when the client leaves:",
            "  --disconnect-after=SECONDS|EVENT*",
            "  --disconnect-tolerance=SECONDS*",
            "  --disconnect-patience=SECONDS*",
            "  --disconnect-server=NAME*",
        ])
        result.stdout.fnmatch_lines(["  disconnect_after (string):*", "  disconnect_tolerance (string):*"])

    def test_marker_is_registered_with_its_signature(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--markers")
        result.stdout.fnmatch_lines([f"@pytest.mark.{MARKER_HELP}"])

    def test_header_shows_the_settings_in_force_and_their_sources(self, pytester: pytest.Pytester) -> None:
        pytester.makeini("[pytest]\ndisconnect_tolerance = 0.5\n")
        result = pytester.runpytest("--disconnect-after=0.2")
        result.stdout.fnmatch_lines([
            "disconnect: after=0.20 s (--disconnect-after), tolerance=0.50 s (disconnect_tolerance in "
            "tox.ini), patience=5.00 s (default), server=uvicorn (default), clock=real (default), live=off (default), "
            "lifespan=auto (default)"
        ])

    def test_the_fixture_is_documented(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--fixtures")
        result.stdout.fnmatch_lines(
            ["disconnect [[]session scope] -- *", "    Drive an ASGI app through a client disconnect*"])


class TestPrecedence:
    def test_the_command_line_moves_calls_that_do_not_set_their_own(self, project: pytest.Pytester) -> None:
        project.makepyfile(PROBE + '''
def test_default(disconnect):
    show(disconnect)

def test_own(disconnect):
    show(disconnect, after=0.05)
''')
        result = project.runpytest("-s", "--disconnect-after=0.2")
        result.assert_outcomes(passed=2)
        assert [line.split(",")[0] for line in settings_lines(result)] == [
            "after=0.20 s (--disconnect-after)", "after=0.05 s (disconnect.run() argument)"]

    @pytest.mark.parametrize(
        ("ini", "args", "expected"),
        [
            ("", [], "tolerance=1.00 s (default)"),
            ("0.4", [], "tolerance=0.40 s (disconnect_tolerance in tox.ini)"),
            ("0.4", ["-o", "disconnect_tolerance=0.6"], "tolerance=0.60 s (-o disconnect_tolerance)"),
            ("0.4", ["--disconnect-tolerance=0.3"], "tolerance=0.30 s (--disconnect-tolerance)"),
            ("0.3", ["--disconnect-tolerance=0.4"], "tolerance=0.40 s (--disconnect-tolerance)"),
        ],
    )
    def test_ini_and_command_line(self, project: pytest.Pytester, ini: str, args: list[str],
                                  expected: str) -> None:
        if ini:
            project.makeini(f"[pytest]\ndisconnect_tolerance = {ini}\n")
        project.makepyfile(PROBE + "def test_it(disconnect):\n    show(disconnect)\n")
        result = project.runpytest("-s", *args)
        result.assert_outcomes(passed=1)
        assert settings_lines(result)[0].split(", ")[1] == expected

    def test_markers_nearest_first_then_call_arguments(self, project: pytest.Pytester) -> None:
        project.makepyfile(PROBE + '''
pytestmark = pytest.mark.disconnect(after=0.01, tolerance=0.9)

@pytest.mark.disconnect(after=0.02)
class TestIt:
    def test_class(self, disconnect):
        show(disconnect)

    @pytest.mark.disconnect(after=0.03)
    def test_function(self, disconnect):
        show(disconnect)

    @pytest.mark.disconnect(after=0.03)
    def test_call(self, disconnect):
        show(disconnect, after=0.04)

def test_module(disconnect):
    show(disconnect)
''')
        result = project.runpytest("-s", "--disconnect-after=0.5", "--disconnect-tolerance=0.1")
        result.assert_outcomes(passed=4)
        assert [", ".join(line.split(", ")[:2]) for line in settings_lines(result)] == [
            "after=0.02 s (@pytest.mark.disconnect on TestIt), "
            "tolerance=0.90 s (@pytest.mark.disconnect on test_markers_nearest_first_then_call_arguments.py)",
            "after=0.03 s (@pytest.mark.disconnect on "
            "test_markers_nearest_first_then_call_arguments.py::TestIt::test_function), "
            "tolerance=0.90 s (@pytest.mark.disconnect on test_markers_nearest_first_then_call_arguments.py)",
            "after=0.04 s (disconnect.run() argument), "
            "tolerance=0.90 s (@pytest.mark.disconnect on test_markers_nearest_first_then_call_arguments.py)",
            "after=0.01 s (@pytest.mark.disconnect on test_markers_nearest_first_then_call_arguments.py), "
            "tolerance=0.90 s (@pytest.mark.disconnect on test_markers_nearest_first_then_call_arguments.py)",
        ]


class TestBadInput:
    def test_bad_command_line_value_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--disconnect-after=abc")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            ["ERROR: invalid --disconnect-after 'abc' on the command line: expected seconds >= 0, *"])

    def test_bad_ini_value_is_a_usage_error_naming_the_file(self, pytester: pytest.Pytester) -> None:
        pytester.makepyprojecttoml("[tool.pytest.ini_options]\ndisconnect_tolerance = \"-1\"\n")
        result = pytester.runpytest()
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            ["ERROR: invalid disconnect_tolerance '-1' in pyproject.toml: expected seconds >= 0"])

    @pytest.mark.parametrize(
        ("marker", "message"),
        [
            ("after='soon'", "invalid after 'soon' in @pytest.mark.disconnect on "
                             "test_bad_marker_fails_that_test_at_setup.py::test_it: expected seconds >= 0*"),
            ("tolerance=-2", "invalid tolerance -2 in @pytest.mark.disconnect on *: expected seconds >= 0"),
            ("tolerence=2", "unknown keyword 'tolerence' in @pytest.mark.disconnect on *: "
                            "expected one of after, tolerance, patience, server, clock, live, lifespan, allow, audit"),
            ("0.5", "@pytest.mark.disconnect on * takes keyword arguments only *"),
        ],
    )
    def test_bad_marker_fails_that_test_at_setup(self, project: pytest.Pytester, marker: str,
                                                 message: str) -> None:
        project.makepyfile(f'''
import pytest
from app import good

@pytest.mark.disconnect({marker})
def test_it(disconnect):
    disconnect.run(good, "GET", "/")

def test_other(disconnect):
    disconnect.run(good, "GET", "/")
''')
        result = project.runpytest()
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines([message])

    def test_bad_call_argument_is_a_plain_error(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from app import good

def test_it(disconnect):
    disconnect.run(good, "GET", "/", tolerance="lots")
''')
        result = project.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "E *pytest_disconnect.SettingError: invalid tolerance 'lots' in disconnect.run(): "
            "expected seconds >= 0"])

    def test_not_an_asgi_app(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
def test_it(disconnect):
    disconnect.run("app:app", "GET", "/")
''')
        result = project.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["E *pytest_disconnect.NotAnASGIApp: 'app:app' is not an ASGI app: "
                                     "it is not callable. *"])
        assert "pytest_disconnect/_" not in result.stdout.str()  # plugin frames are hidden


class TestVerdicts:
    def test_a_handler_that_kept_running_fails_in_the_call_phase_with_the_report(
            self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from app import sleepy

def test_sleepy(disconnect):
    disconnect.run(sleepy, "GET", "/report", after=0.1, tolerance=0.2)
''')
        result = project.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "E       pytest_disconnect.HandlerKeptRunning: GET /report kept running 0.5? s after "
            "http.disconnect (tolerance 0.20 s)",
            "E       ",
            "E         t (s)   event",
            "E         0.100   client   left (after=0.10 s)",
            "E         0.6??   send     send() <- http.response.start 200  dropped: client gone",
            "E         0.6??   send     send() <- http.response.body 4 B  dropped: client gone",
            "E         0.6??   app      app returned",
            "E       ",
            "E         The app never called receive() after the client left, so it could not learn of "
            "the disconnect.",
            "E         It sent 2 messages to the departed client (uvicorn drops them silently).",
            "E         Still running at +0.30 s (the tolerance):",
            "E           app: app.py:5 in sleepy -> await anyio.sleep(0.6)  [[]ended at +0.6? s (returned)]",
            "E       ",
            "E         after=0.10 s (disconnect.run() argument), tolerance=0.20 s (disconnect.run() argument), "
            "patience=5.00 s (default), server=uvicorn (default), clock=real (default), live=off (default), "
            "lifespan=auto (default)",
            "E         Intended? Raise the limit: @pytest.mark.disconnect(tolerance=0.?)  "
            f"({DOCS_URL}reference/#tolerance)",
        ], consecutive=True)
        assert "pytest_disconnect/_" not in result.stdout.str()  # plugin frames are hidden

    def test_passing_runs_attach_a_report_section(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from app import good

def test_good(disconnect):
    disconnect.run(good, "GET", "/", after=0.05)
''')
        result = project.runpytest("-rA")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([
            "*- Captured disconnect call -*",
            "GET / stopped *.? ms after http.disconnect (tolerance 1.00 s)",
        ])

    def test_async_tests_under_the_anyio_plugin(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
import pytest
from app import good, sleepy

pytestmark = pytest.mark.anyio

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

async def test_good(disconnect):
    result = await disconnect.arun(good, "GET", "/", after=0.05, check=False)
    assert result.latency is not None and result.latency < 0.5

async def test_sleepy(disconnect):
    await disconnect.arun(sleepy, "GET", "/", after=0.05, tolerance=0.1)
''')
        result = project.runpytest("-p", "no:asyncio")
        result.assert_outcomes(passed=2, failed=2)
        result.stdout.fnmatch_lines(["*HandlerKeptRunning: GET / kept running 0.5? s after http.disconnect*"])

    def test_async_tests_under_pytest_asyncio(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
import pytest
from app import good

@pytest.mark.asyncio
async def test_good(disconnect):
    result = await disconnect.arun(good, "GET", "/", after=0.05)
    assert result.verdict == "stopped"
''')
        result = project.runpytest("-p", "asyncio", "-p", "no:anyio", "-o", "asyncio_mode=strict",
                                   "-o", "asyncio_default_fixture_loop_scope=function")
        result.assert_outcomes(passed=1)

    def test_run_in_async_code_says_to_use_arun(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
import pytest
from app import good

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_it(disconnect):
    disconnect.run(good, "GET", "/")
''')
        result = project.runpytest("-p", "no:asyncio")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["E *RuntimeError: disconnect.run() was called from async code; "
                                     "use `await disconnect.arun(...)` in async tests"])

    def test_sync_run_on_trio(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from app import good

def test_it(disconnect):
    assert disconnect.run(good, "GET", "/", after=0.05, backend="trio").verdict == "stopped"
''')
        project.runpytest().assert_outcomes(passed=1)

    def test_runs_under_xdist(self, project: pytest.Pytester) -> None:
        project.makepyfile(PROBE + '''
@pytest.mark.parametrize("n", range(4))
def test_it(disconnect, n):
    show(disconnect)
''')
        result = project.runpytest_subprocess("-n", "2", "--disconnect-tolerance=0.7")
        result.assert_outcomes(passed=4)


class TestHypothesis:
    def test_given_tests_use_the_fixture_without_health_check_errors(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
import pytest
from hypothesis import given, settings
from pytest_disconnect import strategies as ds
from app import good

@settings(max_examples=15, deadline=None)
@given(moment=ds.moments(events=False, max_value=0.01), body=ds.bodies())
def test_sync(disconnect, moment, body):
    disconnect.run(good, "POST", "/", after=moment, body=body)

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

@pytest.mark.anyio
@settings(max_examples=15, deadline=None)
@given(moment=ds.moments(events=False, max_value=0.01))
async def test_async(disconnect, moment):
    await disconnect.arun(good, "GET", "/", after=moment)
''')
        result = project.runpytest_subprocess("-p", "no:asyncio", "-rA")  # Hypothesis does not reload in-process
        result.assert_outcomes(passed=3)
        assert "Captured disconnect call" not in result.stdout.str()  # no section per example

    def test_a_failing_example_names_the_moment_and_carries_the_report(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from hypothesis import given, settings
from pytest_disconnect import Trigger, strategies as ds
from app import sleepy

@settings(max_examples=5, deadline=None, database=None)
@given(moment=ds.moments(events=False, max_value=0.05))
def test_sleepy(disconnect, moment):
    disconnect.run(sleepy, "GET", "/", after=moment, tolerance=0.1)
''')
        result = project.runpytest_subprocess()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([
            "E *HandlerKeptRunning: GET / kept running 0.6? s after http.disconnect (tolerance 0.10 s)",
            "E *Failing test case: test_sleepy(",
            "E *moment=Trigger.at(0.0),*",
            "E *disconnect: after=Trigger.at(0.0): GET / kept running 0.6? s after http.disconnect*",
        ])


class TestVirtualClock:
    SLOW = '''
import pytest
from pytest_disconnect import HandlerKeptRunning
from app import sleepy

def test_sleepy(disconnect):
    with pytest.raises(HandlerKeptRunning) as caught:
        disconnect.run(sleepy, "GET", "/", after=0.1, tolerance=0.1)
    print("\\nLATENCY", caught.value.result.latency, caught.value.result.clock)
'''

    @pytest.mark.parametrize(("args", "ini", "source"), [
        (["--disconnect-clock=virtual"], "", "--disconnect-clock"),
        ([], "disconnect_clock = virtual", "disconnect_clock in tox.ini"),
        (["-o", "disconnect_clock=virtual"], "", "-o disconnect_clock"),
    ])
    def test_the_clock_comes_from_the_command_line_or_the_ini_file(
            self, project: pytest.Pytester, args: list[str], ini: str, source: str) -> None:
        if ini:
            project.makeini(f"[pytest]\n{ini}\n")
        project.makepyfile(self.SLOW)
        result = project.runpytest("-s", *args)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"disconnect: *clock=virtual ({source}), live=off (default), "
                                     "lifespan=auto (default)",
                                     "LATENCY 0.5 virtual"])

    def test_a_marker_puts_one_test_on_it(self, project: pytest.Pytester) -> None:
        project.makepyfile(self.SLOW.replace("def test_sleepy", "@pytest.mark.disconnect(clock='virtual')\n"
                                                               "def test_sleepy"))
        result = project.runpytest("-s")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["LATENCY 0.5 virtual"])

    def test_a_bad_clock_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest("--disconnect-clock=fake")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*invalid --disconnect-clock 'fake' on the command line: "
                                     "expected one of real, virtual*"])

    def test_hypothesis_examples_on_the_virtual_clock(self, project: pytest.Pytester) -> None:
        project.makepyfile('''
from hypothesis import given, settings
from pytest_disconnect import strategies as ds
from app import sleepy

@settings(max_examples=50, deadline=None, database=None)
@given(moment=ds.moments(max_value=0.5))
def test_sleepy(disconnect, moment):
    result = disconnect.run(sleepy, "GET", "/", after=moment, clock="virtual", check=False)
    assert result.clock == "virtual"
    if result.disconnected_at is not None:
        assert result.latency == round(0.6 - result.disconnected_at, 9)  # exact: sleepy works 0.6 s
''')
        result = project.runpytest_subprocess("--durations=1")
        result.assert_outcomes(passed=1)
