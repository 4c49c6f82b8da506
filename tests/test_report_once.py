"""What a failing run prints, through pytester: each report once, a marker error once, a true header."""

from __future__ import annotations

import pytest

APP = '''
import anyio

async def ignores(scope, receive, send):
    """Ignores the disconnect: works 2 s, then answers."""
    await receive()
    await anyio.sleep(2)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"late"})
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function -p no:randomly")
    pytester.makepyfile(app=APP)
    return pytester


def test_a_failure_report_is_printed_once(project: pytest.Pytester) -> None:
    project.makepyfile('''
from app import ignores

def test_it(disconnect):
    disconnect.run(ignores, "GET", "/slow", after=0.1, tolerance=0.2, clock="virtual")
''')
    result = project.runpytest("-rN")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert output.count("GET /slow kept running 1.90 s after http.disconnect") == 1
    assert output.count("Still running at +0.30 s") == 1
    assert "Captured disconnect call" not in output


def test_a_caught_failure_keeps_its_report_section(project: pytest.Pytester) -> None:
    """A test that expects the failure passes; -rA shows the report it caught, once."""
    project.makepyfile('''
import pytest
from app import ignores
from pytest_disconnect import HandlerKeptRunning

def test_caught(disconnect):
    with pytest.raises(HandlerKeptRunning):
        disconnect.run(ignores, "GET", "/slow", after=0.1, tolerance=0.2, clock="virtual")

def test_fails_after_two(disconnect):
    disconnect.run(ignores, "GET", "/first", after=0.1, tolerance=0.2, clock="virtual", check=False)
    disconnect.run(ignores, "GET", "/second", after=0.1, tolerance=0.2, clock="virtual")
''')
    result = project.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert output.count("GET /slow kept running 1.90 s after http.disconnect") == 1
    # The failure shows /second as its exception; /first, not raised, keeps its section.
    assert output.count("GET /second kept running 1.90 s after http.disconnect") == 1
    assert output.count("GET /first kept running 1.90 s after http.disconnect") == 1
    assert output.count("Captured disconnect call") == 2


def test_a_marker_typo_is_reported_once(project: pytest.Pytester) -> None:
    project.makepyfile('''
import pytest

@pytest.mark.disconnect(afte=0.1)
def test_typo(disconnect):
    pass
''')
    result = project.runpytest("-rN")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert output.count("unknown keyword 'afte'") == 1
    assert "During handling of the above exception" not in output
    result.stdout.fnmatch_lines(["unknown keyword 'afte' in @pytest.mark.disconnect on "
                                 "test_a_marker_typo_is_reported_once.py"
                                 "::test_typo: expected one of after, tolerance, *"])


def test_the_header_says_what_each_entry_point_does_by_default(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.stdout.fnmatch_lines(["disconnect: after=body-read for run()/arun(), when the client gives up for "
                                 "DisconnectTransport (default), tolerance=1.00 s (default), *"])
    chosen = project.runpytest("--disconnect-after=0.2")
    chosen.stdout.fnmatch_lines(["disconnect: after=0.20 s (--disconnect-after), tolerance=1.00 s (default), *"])
