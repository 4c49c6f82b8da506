"""Async example tests run on both event loops anyio supports; ``--demo`` (``make examples``)
ends the run with a plain summary and writes every disconnect report to a file."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_disconnect import Disconnect, DisconnectResult

REPORTS = Path(__file__).parent / "demo-reports.txt"
#: receive() calls in one request above which the summary says the handler busy-polled.
BUSY_POLLING = 1000


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--demo", action="store_true",
                     help="end with a plain summary of what the examples showed, and write every "
                          "disconnect report to examples/demo-reports.txt")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--demo"):
        config.pluginmanager.register(DemoSummary(REPORTS), "disconnect-demo")


class DemoSummary:
    """Which handler kept working, and for how long; which stopped; where the full reports are."""

    def __init__(self, reports: Path) -> None:
        self.reports = reports
        self.results: list[DisconnectResult] = []
        reports.write_text("")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, object, object]:
        report = yield
        disconnect = getattr(item, "funcargs", {}).get("disconnect")
        if call.when == "call" and isinstance(disconnect, Disconnect):
            self.results.extend(disconnect.results)  # this test's results
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        with self.reports.open("a") as out:
            for title, text in report.sections:
                if title.startswith("Captured disconnect"):
                    out.write(f"{report.nodeid}\n{text}\n\n")
            if report.failed:
                out.write(f"{report.nodeid} FAILED\n{report.longreprtext}\n\n")

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        caught: dict[str, DisconnectResult] = {}
        stopped: dict[str, DisconnectResult] = {}
        for result in self.results:
            if not result.passed:
                caught.setdefault(result.endpoint, result)
            elif result.verdict == "stopped":
                slowest = stopped.get(result.endpoint)
                if slowest is None or (result.latency or 0.0) > (slowest.latency or 0.0):
                    stopped[result.endpoint] = result
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "what the demo showed")
        for endpoint, result in caught.items():
            gone = result.disconnected_at or 0.0
            ran = result.latency if result.latency is not None else (result.cancelled_at or gone) - gone
            write(f"CAUGHT   {endpoint} kept working {ran:.2f} s after its client left (limit "
                  f"{result.settings.tolerance:.2f} s), so the plugin fails it (its test expects that: XFAIL)",
                  red=True, bold=True)
        for endpoint, result in stopped.items():
            polled = (f", but it called receive() {result.receive_calls:,} times polling for it (a busy core)"
                      if result.receive_calls > BUSY_POLLING else "")
            write(f"STOPPED  {endpoint} stopped {(result.latency or 0.0) * 1000:.1f} ms after its client left{polled}",
                  green=True)
        try:
            shown = self.reports.relative_to(Path.cwd())
        except ValueError:
            shown = self.reports
        write(f"Full reports: {shown} (or run with -rA); every example: make examples-all")
