"""The docs' code-block checker (tests/docs_blocks.py) fails where a page has drifted."""

from __future__ import annotations

import pytest

CONFTEST = '''
from pathlib import Path
from tests.docs_blocks import collector

pytest_collect_file = collector(Path(__file__).parent)
'''

APP = '''```python
# tiny.py
async def app(scope, receive, send):
    """Stops as soon as the client leaves."""
    while (await receive())["type"] != "http.disconnect":
        pass
```
'''

TEST_FILE = '''```python
# test_tiny.py
from tiny import app


def test_it(disconnect):
    disconnect.run(app, "GET", "/", after=0.05)
```
'''


@pytest.fixture
def page(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function -p no:randomly")
    pytester.makeconftest(CONFTEST)
    return pytester


def run(page: pytest.Pytester, text: str) -> pytest.RunResult:
    page.makefile(".md", README=text)
    return page.runpytest_inprocess("-p", "pytester", "-p", "no:cacheprovider")


def test_a_page_that_is_true_passes(page: pytest.Pytester) -> None:
    result = run(page, APP + TEST_FILE + '''
<!-- output -->
```text
test_tiny.py .
...
1 endpoint, all passing
```

```python
from tiny import app
from pytest_disconnect import Disconnect

assert Disconnect().run(app, "GET", "/", after=0.05).verdict == "stopped"
```
''')
    result.assert_outcomes(passed=4)


def test_shown_output_that_a_run_does_not_print_fails(page: pytest.Pytester) -> None:
    result = run(page, APP + TEST_FILE + '''
<!-- output -->
```text
GET / kept running 0.4 s after http.disconnect (tolerance 1.00 s)
```
''')
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*not in the real output (in this order): 'GET / kept running*"])


def test_a_test_file_that_fails_fails_unless_the_page_says_so(page: pytest.Pytester) -> None:
    failing = TEST_FILE.replace('after=0.05)', 'after=0.05, tolerance=-1)')
    result = run(page, APP + failing)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_tiny.py did not pass*"])
    expected = run(page, APP + "<!-- outcome: failed=1 -->\n" + failing)
    expected.assert_outcomes(passed=3)  # the comment is an example of its own


def test_a_snippet_that_raises_fails(page: pytest.Pytester) -> None:
    result = run(page, '```python\nassert 1 + 1 == 3\n```\n\n```console\nnot run\n```\n')
    result.assert_outcomes(failed=1)
