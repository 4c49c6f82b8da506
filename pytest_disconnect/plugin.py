"""pytest hooks and fixtures: wiring only (entry point ``disconnect``)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from ._asgi.servers import PROFILES
from ._errors import SettingError
from ._fronts import current as _current
from ._report import ci_plugin as _reports_plugin
from ._report.summary import EndpointStats, add, summary_lines, worth_showing
from ._settings import MARKER_HELP, MARKER_NAME, OPTIONS, Settings, Source, resolve_config
from ._stash import SETTINGS_KEY
from ._sweep import options as _sweep_options

if TYPE_CHECKING:
    import httpx

    from ._errors import ClientLeft
    from ._fronts.fixture import Disconnect
    from ._result import DisconnectResult
    from ._types import ASGIApp

FIXTURE_NAME = "disconnect"
SHARED_KEY = pytest.StashKey["Disconnect"]()
#: Whether this session holds a lease on the --disconnect-audit patch.
AUDIT_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("disconnect", "disconnect: check that ASGI apps stop working when the client leaves")
    for spec in OPTIONS:
        if spec.switch:
            # A bare flag, taking no value: `pytest --disconnect-audit tests/` must not read
            # "tests/" as its value. --no-disconnect-audit turns an ini value off again.
            group.addoption(spec.flag, dest=spec.dest, default=None, help=spec.help,
                            action="store_const", const="on")
            group.addoption(spec.negative_flag, dest=spec.dest, default=None,
                            help=f"turn {spec.flag} off (over an ini value)", action="store_const", const="off")
        else:
            group.addoption(spec.flag, dest=spec.dest, default=None, metavar=spec.metavar, help=spec.help)
        parser.addini(spec.ini, help=spec.help, type="string", default="")
    _sweep_options.add_options(group, parser)
    _reports_plugin.add_options(group)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        config.stash[SETTINGS_KEY] = resolve_config(config)
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(_Summary(config), "disconnect-summary")
    _sweep_options.configure(config)
    _reports_plugin.configure(config)
    if config.stash[SETTINGS_KEY].audit:
        _hold_audit(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    driver = sys.modules.get("pytest_disconnect._scenario.driver")
    if driver is not None:
        notes = driver.end_of_run()  # no child process of an app outlives pytest, even after Ctrl-C
        if notes:
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            for note in notes:
                if reporter is not None:
                    reporter.write_line(f"pytest-disconnect: {note}", yellow=True)
                else:
                    sys.stderr.write(f"pytest-disconnect: {note}\n")
    if config.stash.get(AUDIT_KEY, False):
        from ._fronts.audit import LEASE

        config.stash[AUDIT_KEY] = False
        LEASE.release()


def _hold_audit(config: pytest.Config) -> None:
    """The session's lease on the audit patch, taken once, given back at unconfigure."""
    if config.stash.get(AUDIT_KEY, False):
        return
    from ._fronts.audit import LEASE

    LEASE.acquire()
    config.stash[AUDIT_KEY] = True


def pytest_report_header(config: pytest.Config) -> str:
    from ._report.text import header_line

    return header_line(config.stash[SETTINGS_KEY])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Make the test's context; with the fixture, resolve its markers now, so bad ones error here."""
    context = _current.TestContext(item, item.config.stash[SETTINGS_KEY])
    _current.push(context)
    if not item.config.stash.get(AUDIT_KEY, False) and item.get_closest_marker(MARKER_NAME) is not None:
        try:
            if context.settings.audit:  # a marker's audit=True turns the audit on from this test
                _hold_audit(item.config)
        except SettingError:
            pass  # reported where the settings are used
    if FIXTURE_NAME not in getattr(item, "fixturenames", ()):
        return
    try:
        settings = context.settings
    except SettingError as exc:
        problem = str(exc) if item.nodeid in str(exc) else f"{item.nodeid}: {exc}"
    else:
        _rebind(_shared(item.config), settings, context.record)
        return
    pytest.fail(problem, pytrace=False)  # outside the except block: the message once, with no chain


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    context = _current.current()
    if context is not None and context.item is item:
        context.flush_sections()
    report = yield
    if call.excinfo is not None and isinstance(report, pytest.TestReport) and report.failed:
        from ._report.sections import drop_repeated_reports

        drop_repeated_reports(report, call.excinfo.value)
    return report


@pytest.hookimpl(wrapper=True)  # after fixture finalizers (which may still make requests), even failing ones
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        context = _current.pop(item)
        if context is not None:
            context.store_properties()
        shared = item.config.stash.get(SHARED_KEY, None)
        if shared is not None:
            try:
                shared.close()  # the test's lifespans shut down: a failure is this test's teardown error
            finally:
                _rebind(shared, item.config.stash[SETTINGS_KEY], None)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A planned disconnect that left the test without a response, after the app stopped in
    time, skips the rest of the test: the audit passed, the test's own checks could not run."""
    try:
        return (yield)
    except BaseException as exc:
        from ._errors import ClientLeft
        from ._report.verdicts import replaced_verdicts

        leaves = _client_left_leaves(exc, ClientLeft)
        replaced = False
        if not leaves:
            # The test's own `finally:` (or except) raised over the verdict: keep the verdict in sight.
            verdicts = replaced_verdicts(exc)
            if not verdicts:
                raise
            failing = [verdict for verdict in verdicts
                       if not isinstance(verdict, ClientLeft) or not verdict.result.passed]
            if failing:
                for verdict in failing:
                    exc.add_note(f"pytest-disconnect: this replaced {type(verdict).__name__}: "
                                 f"{str(verdict).splitlines()[0]}")
                raise
            leaves, replaced = [verdict for verdict in verdicts if isinstance(verdict, ClientLeft)], True
        if not all(left.result.passed for left in leaves):
            raise  # a failed verdict (check=False) or anything else is the test's own outcome
        # Reported at the test's location, as a skip marker's would be, not at this line.
        reason = "; ".join(str(left) for left in leaves)
        if replaced:
            reason += (f"; the test's own {type(exc).__name__} ({str(exc).splitlines()[0] if str(exc) else ''}) "
                       "replaced ClientLeft in a finally or except block")
        # Only work that saw the disconnect passed the audit; work that merely ended in time proves nothing.
        outcome = "passed" if all(left.result.looked for left in leaves) else "inconclusive"
        raise pytest.skip.Exception(f"disconnect audit {outcome}: {reason}", _use_item_location=True) from None


def _client_left_leaves(exc: BaseException, kind: type[ClientLeft]) -> list[ClientLeft]:
    """Every ClientLeft in ``exc`` (an exception group from a task group, say), or [] if it holds others."""
    if isinstance(exc, kind):
        return [exc]
    if not isinstance(exc, BaseExceptionGroup):
        return []
    found: list[ClientLeft] = []
    for inner in exc.exceptions:
        leaves = _client_left_leaves(inner, kind)
        if not leaves:
            return []
        found += leaves
    return found


def _nothing_audited(settings: Settings) -> str | None:
    """What to say when a run that asked for disconnects saw no request; None if it asked for none."""
    if settings.audit:
        # The patched clients saw nothing: the suite's client is another one (Quart's and
        # Django's test clients do not use httpx), or it calls the app directly.
        return (f"disconnect: the audit was on ({settings.source('audit')}), but no request went through "
                "Starlette's TestClient, Litestar's TestClient or an httpx ASGITransport: nothing was audited. "
                "Those are the clients it patches (httpx2's too); for another test client, use the disconnect "
                "fixture or DisconnectTransport")
    if "after" in settings.sources:
        return (f"disconnect: after={settings.show('after')} ({settings.source('after')}) was set, but no request "
                "went through DisconnectTransport or the disconnect fixture: nothing was audited "
                "(add --disconnect-audit to audit TestClient and ASGITransport requests as they are)")
    return None


class _Summary:
    """Per run: folds each test's endpoints into a table (from xdist workers too), prints it at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.table: dict[str, EndpointStats] = {}
        #: Requests that never reached a verdict, with their test's node id.
        self.unjudged: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":  # teardown's report has all of the test's properties
            return
        for name, value in report.user_properties:
            if name == _current.UNJUDGED:
                self.unjudged.append(f"{value} ({report.nodeid})")
                continue
            stats = EndpointStats.from_property(name, value)
            if stats is not None:
                add(self.table, stats)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        settings = self.config.stash[SETTINGS_KEY]
        if self.unjudged:
            terminalreporter.write_line(
                f"disconnect: {len(self.unjudged)} request(s) never reached a verdict, since their test ended "
                "first with the response neither read to the end nor closed (use `with client.stream(...)`, "
                f"or close the client): {'; '.join(self.unjudged)}", yellow=True)
        if not self.table and terminalreporter.stats.get("passed"):
            # An audit that audited nothing looks green: say so.
            note = _nothing_audited(settings)
            if note is not None:
                terminalreporter.write_line(note, yellow=True)
        if not worth_showing(self.table):
            return
        from ._report.text import run_wide

        terminalreporter.write_sep("=", "disconnect summary")
        for line in summary_lines(self.table, f"run-wide settings: {run_wide(settings)}"):
            terminalreporter.write_line(line)


# Session-scoped so that Hypothesis's @given accepts it (its health check flags
# function-scoped fixtures); pytest_runtest_setup rebinds it to each test, and
# every run() is a fresh scenario, so nothing leaks between tests or examples.
@pytest.fixture(scope="session")
def disconnect(pytestconfig: pytest.Config) -> Disconnect:
    """Drive an ASGI app through a client disconnect and check that its work stopped.

    ``disconnect.run(app, "GET", "/path", after=0.5)`` in sync tests,
    ``await disconnect.arun(...)`` in async ones. Settings come from the call,
    then ``@pytest.mark.disconnect``, ``--disconnect-*`` options and ``disconnect_*`` ini values.
    """
    return _shared(pytestconfig)


@pytest.fixture(params=list(PROFILES))
def disconnect_server(request: pytest.FixtureRequest) -> str:
    """Run the test once per server profile (uvicorn, hypercorn, asgi-2.4): its disconnect.run(),
    arun() and DisconnectTransport requests use that profile, unless a call names its own."""
    name = str(request.param)
    context = _current.current()
    if context is not None and context.item is request.node:
        settings = context.override(Source("fixture", "disconnect_server"), {"server": name})
        shared = request.config.stash.get(SHARED_KEY, None)
        if shared is not None:
            _rebind(shared, settings, context.record)
    return name


@pytest.fixture
def asgi_app() -> ASGIApp:
    """The app ``disconnect_client`` talks to: override this fixture in your conftest.py."""
    pytest.fail("disconnect_client needs your app: define a fixture named asgi_app in conftest.py, e.g.\n"
                "    @pytest.fixture\n    def asgi_app():\n        return app", pytrace=False)


@pytest.fixture
def disconnect_client(asgi_app: ASGIApp) -> Iterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` for ``asgi_app`` through DisconnectTransport (base URL http://testserver)."""
    import httpx

    from ._fronts.transport import DisconnectTransport, unfinished

    transport = DisconnectTransport(asgi_app)
    yield httpx.AsyncClient(transport=transport, base_url="http://testserver")
    # A sync fixture cannot await aclose(); a response left open is a request never judged.
    left = unfinished(transport)
    if left:
        warnings.warn(pytest.PytestWarning(
            f"{left} response(s) from disconnect_client were never read to the end or "
            "closed, so their requests were never judged: use `async with client.stream(...)`"), stacklevel=1)


def _shared(config: pytest.Config) -> Disconnect:
    """The run's one Disconnect object, made on first use."""
    from ._fronts.fixture import Disconnect

    shared = config.stash.get(SHARED_KEY, None)
    if shared is None:
        shared = config.stash[SHARED_KEY] = Disconnect(config.stash[SETTINGS_KEY])
    return shared


def _rebind(shared: Disconnect, settings: Settings, on_result: Callable[[DisconnectResult], None] | None) -> None:
    from ._fronts.fixture import bind  # loaded already: `shared` is a Disconnect

    bind(shared, settings, on_result)
