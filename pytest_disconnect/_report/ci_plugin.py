"""Reports CI can read: ``--disconnect-report`` (JSON), GitHub Actions summary and annotations, the baseline.

They serve every kind of test, the sweep's, the fixture's and the audit's: each
test's results reach the controller as user properties (from xdist workers too),
the path the end-of-run summary already takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import pytest

from .._asgi.routes import template
from .._stash import SETTINGS_KEY
from .baseline import UPDATE_FLAG, Baseline, BaselineError, fixed_message, known_reason
from .baseline import load as load_baseline
from .records import WANTED_KEY, Scenario
from .summary import EndpointStats, add

REPORT_FLAG = "--disconnect-report"
BASELINE_FLAG = "--disconnect-baseline"
#: On the call report: the endpoints whose verdict failed the test (a JSON list).
FAILURE_PROPERTY = "disconnect failure"
ROUTE_PREFIX = "disconnect route "


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(REPORT_FLAG, dest="disconnect_report", default=None, metavar="PATH",
                    help="write every scenario's route, moment, verdict, latency and what kept running to PATH "
                         "as JSON")
    group.addoption(BASELINE_FLAG, dest="disconnect_baseline", default=None, metavar="PATH",
                    help="known disconnect failures (JSON): reported as xfailed; a new failure, or a known one "
                         "that now passes, fails")
    group.addoption(UPDATE_FLAG, dest="disconnect_baseline_update", action="store_true", default=False,
                    help=f"write this run's disconnect failures to the {BASELINE_FLAG} file")


def configure(config: pytest.Config) -> None:
    report = config.getoption("disconnect_report")
    baseline = config.getoption("disconnect_baseline")
    update = bool(config.getoption("disconnect_baseline_update"))
    if update and baseline is None:
        raise pytest.UsageError(f"{UPDATE_FLAG} needs {BASELINE_FLAG}=PATH: where to write the baseline")
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    if report is None and baseline is None and not github:
        return
    config.stash[WANTED_KEY] = True
    try:
        plugin = Reports(config, Path(report) if report else None, Path(baseline) if baseline else None, update,
                         github)
    except BaselineError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(plugin, "disconnect-reports")


class Reports:
    def __init__(self, config: pytest.Config, report: Path | None, baseline_path: Path | None, update: bool,
                 github: bool) -> None:
        self.config = config
        self.report = report
        self.baseline_path = baseline_path
        self.baseline = load_baseline(baseline_path) if baseline_path is not None and not update else Baseline()
        self.update = update
        self.github = github
        self.tests: dict[str, str] = {}
        self.locations: dict[str, tuple[str, int | None]] = {}
        self.failures: dict[str, tuple[str, ...]] = {}
        self.table: dict[str, EndpointStats] = {}
        self.handlers: dict[str, str] = {}
        self.scenarios: list[Scenario] = []
        self.known: list[str] = []
        self.fixed: list[str] = []

    # --- on the worker (or the only process): judge against the baseline ------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when != "call":
            return report
        endpoints = _failed_endpoints(call.excinfo.value) if call.excinfo is not None else None
        if endpoints is not None and report.failed:
            report.user_properties.append((FAILURE_PROPERTY, json.dumps(endpoints)))
        if self.baseline_path is None or self.update:
            return report
        if endpoints is not None and report.failed and self.baseline.knows(item.nodeid):
            report.outcome = "skipped"
            report.wasxfail = known_reason(self.baseline_path, tuple(endpoints))
        elif report.passed and self.baseline.knows(item.nodeid):
            report.outcome = "failed"
            report.longrepr = fixed_message(self.baseline_path, item.nodeid)
        return report

    # --- on the controller: gather ----------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.tests[nodeid] = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            self.locations[nodeid] = (report.location[0], report.location[1])
            for name, value in report.user_properties:
                if name == FAILURE_PROPERTY and isinstance(value, str):
                    self.failures[nodeid] = tuple(json.loads(value))
            if hasattr(report, "wasxfail") and self.baseline.knows(nodeid):
                self.known.append(nodeid)
            if report.failed and self.baseline.knows(nodeid) and nodeid not in self.failures:
                self.fixed.append(nodeid)
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            stats = EndpointStats.from_property(name, value)
            if stats is not None:
                add(self.table, stats)
            elif name.startswith(ROUTE_PREFIX) and isinstance(value, str):
                self.handlers[template(name[len(ROUTE_PREFIX):])] = value
            else:
                scenario = Scenario.from_property(name, value)
                if scenario is not None:
                    self.scenarios.append(scenario)

    # --- at the end ------------------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller writes the reports
            return
        from . import github as _github
        from . import json_report as _json_report

        settings = self.config.stash[SETTINGS_KEY].describe()
        baseline_state = self._baseline_state()
        if self.report is not None:
            _json_report.write(self.report, _json_report.document(
                settings=settings, tests=self.tests, failures=self.failures, table=self.table,
                handlers=self.handlers, scenarios=self.scenarios, baseline=baseline_state))
            terminalreporter.write_line(f"disconnect: report written to {self.report}")
        if self.update and self.baseline_path is not None:
            self._write_baseline(self.baseline_path)
            terminalreporter.write_line(f"disconnect: baseline written to {self.baseline_path} "
                                        f"({len(self.failures)} failing tests)")
        elif self.baseline_path is not None and (self.known or self.fixed or self._new()):
            terminalreporter.write_line(
                f"disconnect baseline {self.baseline_path}: {len(self.known)} known failing, "
                f"{len(self._new())} new, {len(self.fixed)} fixed")
        if self.github:
            for line in _github.error_lines(self._annotations()):
                terminalreporter.write_line(line)
            summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_file and self.table:
                with open(summary_file, "a", encoding="utf-8") as handle:
                    handle.write(_github.step_summary(self.table, self.handlers, f"Settings: {settings}"))

    def _baseline_state(self) -> dict[str, object] | None:
        if self.baseline_path is None:
            return None
        return {"path": str(self.baseline_path), "updated": self.update, "known": self.known, "new": self._new(),
                "fixed": self.fixed}

    def _new(self) -> list[str]:
        """Tests that failed a disconnect verdict and are not in the baseline."""
        return [nodeid for nodeid in self.failures if nodeid not in self.known and self.tests.get(nodeid) == "failed"]

    def _write_baseline(self, path: Path) -> None:
        try:
            previous = load_baseline(path).failing
        except BaselineError:
            previous = {}
        # Tests that did not run this time (deselected, another shard) keep their entries.
        failing = {nodeid: endpoints for nodeid, endpoints in previous.items() if nodeid not in self.tests}
        failing.update(self.failures)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Baseline(failing).to_json(), encoding="utf-8")

    def _annotations(self) -> list[tuple[str, int | None, str, str]]:
        """One per failing endpoint: at its handler (sweep), else where its work kept running, else the test."""
        entries: list[tuple[str, int | None, str, str]] = []
        for stats in self.table.values():
            if stats.passed:
                continue
            scenario = next((s for s in self.scenarios if s.endpoint == stats.endpoint and not s.passed), None)
            message = scenario.headline if scenario is not None else f"{stats.endpoint}: {stats.verdict}"
            where: tuple[str, int | None] | None = None
            handler = self.handlers.get(template(stats.endpoint))
            if handler is not None:
                file, _, line = handler.rpartition(":")
                where = (file, int(line)) if line.isdigit() else (handler, None)
            elif scenario is not None:
                where = scenario.location() or self._test_location(scenario.test)
            if where is None:
                continue
            entries.append((self._relative(where[0]), where[1], f"disconnect: {stats.endpoint}", message))
        return entries

    def _test_location(self, nodeid: str) -> tuple[str, int | None] | None:
        location = self.locations.get(nodeid)
        if location is None:
            return None
        return location[0], (location[1] + 1 if location[1] is not None else None)

    def _relative(self, file: str) -> str:
        path = Path(file)
        if not path.is_absolute():
            return file
        try:
            return path.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            return file


def _failed_endpoints(error: BaseException) -> list[str] | None:
    """The endpoints of the HandlerKeptRunning in ``error`` (or an exception group of them), else None."""
    from .._errors import HandlerKeptRunning

    if isinstance(error, HandlerKeptRunning):
        return [error.result.endpoint]
    if isinstance(error, BaseExceptionGroup):
        found = [endpoint for inner in error.exceptions for endpoint in (_failed_endpoints(inner) or [])]
        return found or None
    return None
