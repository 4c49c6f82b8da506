"""examples/audit, run as examples/README.md says: the audit fails exactly the two endpoints
that keep working after the client leaves, and without it the suite passes and says nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "audit"
# A copy runs in pytester's directory, away from this repo's configuration: warnings are
# errors as here, and pytest-asyncio stays out (unconfigured, it warns at start-up).
OPTIONS = ("-p", "no:asyncio", "-W", "error", "-v")
TIMEOUT = 60.0  # seconds: the runs take about 5 s; a hang fails instead of blocking the suite

TESTS = ["test_list_products", "test_get_product", "test_get_missing_product", "test_create_product",
         "test_sales_report", "test_bestsellers", "test_export_stock"]
AUDITED = {"test_sales_report": "SKIPPED", "test_bestsellers": "FAILED", "test_export_stock": "FAILED"}

KEPT_WORKING = {"GET /reports/bestsellers", "GET /exports/stock.csv"}
# endpoint, requests, disconnected, verdict: worst first (the two that failed in either order,
# as their latencies are about equal); the finished ones by name.
TABLE = [
    ("GET /reports/sales", "1", "1", "stopped"),
    ("GET /products", "1", "0", "finished"),
    ("GET /products/{product_id}", "3", "0", "finished"),
    ("POST /products", "1", "0", "finished"),
]


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    """A copy of examples/audit: shop.py and its test suite, as they are in the repository."""
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Each test's outcome, from the -v progress lines."""
    found = (re.match(r"test_shop\.py::(\w+) (PASSED|FAILED|SKIPPED|ERROR)", line) for line in result.outlines)
    return {match[1]: match[2] for match in found if match}


def summary_rows(result: pytest.RunResult) -> list[list[str]]:
    """The rows of the disconnect summary table, split into columns."""
    lines = result.outlines
    start = next(index for index, line in enumerate(lines) if re.fullmatch(r"=+ disconnect summary =+", line))
    assert lines[start + 1].split() == ["endpoint", "requests", "disconnected", "looked", "worst", "stop",
                                        "latency", "verdict"]
    end = lines.index("", start)
    return [re.split(r" {2,}", line) for line in lines[start + 3:end]]


def seconds(shown: str) -> float:
    """'1.40 s' or '2.6 ms' in seconds."""
    number, unit = shown.split()
    return float(number) / (1000 if unit == "ms" else 1)


def test_the_audit_fails_the_two_endpoints_that_keep_working(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess(*OPTIONS, "-rs", "--disconnect-after=0.1", timeout=TIMEOUT)

    assert outcomes(result) == {test: AUDITED.get(test, "PASSED") for test in TESTS}
    result.assert_outcomes(passed=4, skipped=1, failed=2)
    result.stdout.fnmatch_lines([
        "SKIPPED [[]1] test_shop.py:*: disconnect audit passed: GET /reports/sales stopped * after "
        "http.disconnect (tolerance 1.00 s); the client left at 0.10 s (--disconnect-after), "
        "so there is no response to check",
    ])
    # Each failure names what was still running: the awaited query, and the worker thread.
    result.stdout.fnmatch_lines([
        "E *.HandlerKeptRunning: GET /reports/bestsellers kept running * s after http.disconnect (tolerance 1.00 s)",
        "E *app: shop.py:* in bestsellers -> await anyio.sleep(SLOW_QUERY)  [[]ended at +* s (returned)]",
    ])
    result.stdout.fnmatch_lines([
        "E *.HandlerKeptRunning: GET /exports/stock.csv kept running * s after http.disconnect (tolerance 1.00 s)",
        "E *thread export_stock: shop.py:* in export_stock -> time.sleep(SLOW_QUERY / STOCK_BATCHES)  [[]ended *",
    ])

    rows = summary_rows(result)
    failed, rest = rows[:2], rows[2:]
    assert {row[0] for row in failed} == KEPT_WORKING
    for endpoint, requests, disconnected, looked, latency, verdict in failed:
        assert (requests, disconnected, looked, verdict) == ("1", "1", "0", "kept-running FAILED"), endpoint
        # The work takes 1.5 s from the request's start; the client left at 0.1 s.
        assert 1.0 < seconds(latency) < 5.0, endpoint
    assert [(endpoint, requests, disconnected, verdict) for endpoint, requests, disconnected, _, _, verdict
            in rest] == TABLE
    assert rest[0][3] == "1"  # /reports/sales saw the disconnect: its watcher's receive() returned it
    assert seconds(rest[0][4]) < 1.0  # /reports/sales stopped within the tolerance (measured: a few ms)
    assert [row[4] for row in rest[1:]] == ["-", "-", "-"]  # nothing to disconnect: they had answered
    result.stdout.fnmatch_lines([
        "POST /products * finished",
        "",
        "6 endpoints, 2 with a failing verdict",
        "run-wide settings: after=0.10 s (--disconnect-after), tolerance=1.00 s (default), *",
    ], consecutive=True)


def test_without_the_audit_the_suite_passes_and_prints_no_summary(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess(*OPTIONS, timeout=TIMEOUT)

    assert outcomes(result) == dict.fromkeys(TESTS, "PASSED")
    result.assert_outcomes(passed=7)
    result.stdout.no_fnmatch_line("*disconnect summary*")
