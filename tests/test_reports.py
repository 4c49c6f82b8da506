"""Reports CI reads: the JSON report, GitHub's job summary and annotations, the baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pytest_disconnect._sweep.items
import pytest_disconnect._sweep.run  # noqa: F401
from pytest_disconnect._report.github import annotation

from .test_sweep import SERVICE

FIXTURE_TEST = '''
from service import app

def test_careless(disconnect):
    disconnect.run(app, "GET", "/careless", after=0.5, clock="virtual")
'''


@pytest.fixture
def service(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    pytester.makepyfile(service=SERVICE)
    return pytester


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_json_report_of_a_sweep(service: pytest.Pytester) -> None:
    result = service.runpytest("--disconnect-sweep=service:app", "-k", "careless or careful",
                               "--disconnect-report=out/disconnect.json")

    result.assert_outcomes(passed=1, failed=1, deselected=3)
    result.stdout.fnmatch_lines(["disconnect: report written to out/disconnect.json"])
    report = read(service.path / "out" / "disconnect.json")
    assert report["version"] == 1
    assert report["summary"]["tests"] == 2 and report["summary"]["failing_endpoints"] == 1
    careless = next(entry for entry in report["endpoints"] if entry["endpoint"] == "GET /careless")
    # The app sleeps 3 s of virtual time after the client left; a loaded machine may add a
    # stretch the loop never slept, when the virtual clock runs at the real rate (by design).
    assert careless["verdict"] == "kept-running" and careless["worst_latency_s"] >= 3.0
    assert careless["handler"].startswith("service.py:")
    assert {"nodeid": "disconnect-sweep[service:app]::GET /careless", "outcome": "failed",
            "disconnect_failures": ["GET /careless"]} in report["tests"]
    failing = [s for s in report["scenarios"] if not s["passed"]]
    assert failing and all(s["endpoint"] == "GET /careless" for s in failing)
    simplest = failing[-1]
    assert simplest["moment"] == "request-chunks:0" and simplest["verdict"] == "kept-running"
    assert simplest["latency_s"] == 3.0 and simplest["clock"] == "virtual"
    assert simplest["headline"] == ("GET /careless kept running 3.00 s after http.disconnect (tolerance 1.00 s) "
                                    "[virtual clock]")
    assert simplest["kept_running"][0]["where"].startswith("service.py:")
    assert report["baseline"] is None


def test_json_report_of_fixture_tests(service: pytest.Pytester) -> None:
    service.makepyfile(test_fixture=FIXTURE_TEST)

    result = service.runpytest("--disconnect-report=disconnect.json", ".")

    result.assert_outcomes(failed=1)
    report = read(service.path / "disconnect.json")
    [scenario] = report["scenarios"]
    assert scenario["test"] == "test_fixture.py::test_careless"
    assert scenario["moment"] == "0.50 s" and scenario["verdict"] == "kept-running" and scenario["latency_s"] == 2.5


def test_github_step_summary_and_annotations(service: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = service.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    service.makepyfile(test_fixture=FIXTURE_TEST)
    line = SERVICE.lstrip("\n").splitlines().index("async def careless(request):") + 1

    result = service.runpytest("--disconnect-sweep=service:app", "-k", "careless or careful", ".")

    result.assert_outcomes(passed=1, failed=2, deselected=3)
    # The sweep's failure at its handler; the fixture test's where its work kept running.
    result.stdout.fnmatch_lines([
        f"::error file=service.py,line={line},title=disconnect%3A GET /careless::GET /careless kept running "
        "3.00 s after http.disconnect (tolerance 1.00 s) [virtual clock]",
    ])
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### pytest-disconnect\n\n| endpoint | requests | disconnected | worst stop latency | "
                           "verdict | handler |\n")
    assert f"| `GET /careless` | 4 | 4 | 3.00 s | **kept-running** :x: | `service.py:{line}` |" in text
    assert "| `GET /careful` |" in text and "2 endpoints, 1 with a failing verdict." in text


def test_github_annotation_escapes() -> None:
    assert annotation("a,b.py", 3, "x: y", "50% done\nnext") == (
        "::error file=a%2Cb.py,line=3,title=x%3A y::50%25 done%0Anext")


def test_baseline_update_then_known_new_and_fixed(service: pytest.Pytester) -> None:
    sweep = ("--disconnect-sweep=service:app", "-k", "careless or careful or stream")
    update = service.runpytest(*sweep, "--disconnect-baseline=baseline.json", "--disconnect-baseline-update")

    update.assert_outcomes(passed=1, failed=2, deselected=2)
    update.stdout.fnmatch_lines(["disconnect: baseline written to baseline.json (2 failing tests)"])
    baseline = read(service.path / "baseline.json")
    assert baseline == {"version": 1, "failing": {
        "disconnect-sweep[service:app]::GET /careless": ["GET /careless"],
        "disconnect-sweep[service:app]::GET /stream": ["GET /stream"]}}

    known = service.runpytest(*sweep, "--disconnect-baseline=baseline.json", "-rx")
    known.assert_outcomes(passed=1, xfailed=2, deselected=2)
    assert known.ret == 0
    known.stdout.fnmatch_lines([
        "XFAIL disconnect-sweep?service:app?::GET /careless - known disconnect failure (GET /careless) in the "
        "baseline baseline.json"])

    # /stream is no longer known (a new failure); /careful is listed as failing, but passes (fixed).
    baseline["failing"].pop("disconnect-sweep[service:app]::GET /stream")
    baseline["failing"]["disconnect-sweep[service:app]::GET /careful"] = ["GET /careful"]
    (service.path / "baseline.json").write_text(json.dumps(baseline), encoding="utf-8")

    compared = service.runpytest(*sweep, "--disconnect-baseline=baseline.json", "--disconnect-report=r.json")
    compared.assert_outcomes(xfailed=1, failed=2, deselected=2)
    compared.stdout.fnmatch_lines([
        "disconnect-sweep[[]service:app[]]::GET /careful passes now, but the disconnect baseline baseline.json lists "
        "it as failing: good news; update the baseline with --disconnect-baseline-update so that it stays fixed",
    ])
    compared.stdout.fnmatch_lines(["disconnect baseline baseline.json: 1 known failing, 1 new, 1 fixed"])
    assert read(service.path / "r.json")["baseline"] == {
        "path": "baseline.json", "updated": False, "known": ["disconnect-sweep[service:app]::GET /careless"],
        "new": ["disconnect-sweep[service:app]::GET /stream"],
        "fixed": ["disconnect-sweep[service:app]::GET /careful"]}


def test_baseline_errors(service: pytest.Pytester) -> None:
    result = service.runpytest("--disconnect-baseline-update")
    result.stderr.fnmatch_lines(["ERROR: --disconnect-baseline-update needs --disconnect-baseline=PATH: where to "
                                 "write the baseline"])
    (service.path / "bad.json").write_text("[]", encoding="utf-8")
    result = service.runpytest("--disconnect-baseline=bad.json")
    result.stderr.fnmatch_lines([
        "ERROR: cannot read the disconnect baseline bad.json: expected {'version': 1, "
        "'failing': {node id: [endpoints]}}; write a new one with --disconnect-baseline-update"])


def test_reports_gather_results_from_xdist_workers(service: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = service.runpytest_subprocess("--disconnect-sweep=service:app", "-k", "careless or careful", "-n", "2",
                                          "--disconnect-report=disconnect.json")

    result.assert_outcomes(passed=1, failed=1)
    report = read(service.path / "disconnect.json")
    assert sorted(test["outcome"] for test in report["tests"]) == ["failed", "passed"]
    assert {entry["endpoint"] for entry in report["endpoints"]} == {"GET /careless", "GET /careful"}
    assert any(not scenario["passed"] for scenario in report["scenarios"])


def test_json_report_and_baseline_of_an_audit(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit mode (DisconnectTransport, --disconnect-after) goes through the same reports."""
    import pytest_disconnect._fronts.transport  # noqa: F401

    from .test_audit import SERVICE as AUDITED_SERVICE
    from .test_audit import SUITE

    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:asyncio -p no:randomly")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    pytester.makepyfile(service=AUDITED_SERVICE, test_suite=SUITE)
    audit = ("--disconnect-after=0.1", "--disconnect-tolerance=0.1", "--disconnect-report=audit.json",
             "--disconnect-baseline=baseline.json")

    first = pytester.runpytest(*audit, "--disconnect-baseline-update")

    first.assert_outcomes(passed=1, skipped=1, failed=1)
    report = read(pytester.path / "audit.json")
    careless = [s for s in report["scenarios"] if s["test"] == "test_suite.py::test_careless"]
    assert careless and careless[0]["moment"] == "0.10 s" and careless[0]["verdict"] == "kept-running"
    assert read(pytester.path / "baseline.json")["failing"] == {"test_suite.py::test_careless": ["GET /careless/{n}"]}

    again = pytester.runpytest(*audit)
    again.assert_outcomes(passed=1, skipped=1, xfailed=1)
