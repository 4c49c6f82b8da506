"""examples/audit_testclient, run as examples/README.md says: an unmodified TestClient suite,
audited with --disconnect-audit, fails exactly the endpoint that keeps working, says which
handler never looked, and without the flag passes and says nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "audit_testclient"
OPTIONS = ("-p", "no:asyncio", "-W", "error", "-v")
TIMEOUT = 60.0  # seconds: the runs take a few seconds; a hang fails instead of blocking the suite
TESTS = ["test_list_books", "test_get_book", "test_get_missing_book", "test_search", "test_stats",
         "test_recommendations"]


@pytest.fixture
def library(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    found = (re.match(r"test_library\.py::(\w+) (PASSED|FAILED|SKIPPED|ERROR)", line) for line in result.outlines)
    return {match[1]: match[2] for match in found if match}


def test_the_audit_fails_the_endpoint_that_keeps_working(library: pytest.Pytester) -> None:
    result = library.runpytest_subprocess(*OPTIONS, "-rs", "--disconnect-audit", "--disconnect-after=0.1",
                                          timeout=TIMEOUT)
    assert outcomes(result) == {**dict.fromkeys(TESTS, "PASSED"), "test_stats": "FAILED",
                                "test_search": "SKIPPED", "test_recommendations": "SKIPPED"}
    result.stdout.fnmatch_lines(["E *.HandlerKeptRunning: GET /stats kept running * s after http.disconnect "
                                 "(tolerance 1.00 s)"])
    result.stdout.fnmatch_lines(["SKIPPED [[]1] test_library.py:*: disconnect audit passed: GET /search?q=dub "
                                 "stopped * after http.disconnect*"])
    result.stdout.fnmatch_lines(["SKIPPED [[]1] test_library.py:*: disconnect audit inconclusive: "
                                 "GET /recommendations ended * after http.disconnect without looking at it*"])
    result.stdout.fnmatch_lines([
        "endpoint * requests  disconnected  looked  worst stop latency  verdict",
        "*",
        "GET /stats * 1 * 1 * 0 * s  kept-running FAILED",
        "GET /recommendations * 1 * 1 * 0 * ms  stopped",
        "GET /search * 1 * 1 * 1 * ms  stopped",
        "GET /books * 1 * 0 * 0 * -  finished",
        "GET /books/{book_id} * 2 * 0 * 0 * -  finished",
        "",
        "5 endpoints, 1 with a failing verdict",
        "never looked at the disconnect (1): GET /recommendations; *",
        "run-wide settings: *, audit=on (--disconnect-audit)",
    ], consecutive=True)


def test_without_the_flag_the_suite_passes_and_says_nothing(library: pytest.Pytester) -> None:
    result = library.runpytest_subprocess(*OPTIONS, "--disconnect-after=0.1", timeout=TIMEOUT)
    assert outcomes(result) == dict.fromkeys(TESTS, "PASSED")
    result.stdout.no_fnmatch_line("*disconnect summary*")
