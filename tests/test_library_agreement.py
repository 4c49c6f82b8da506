"""The libraries users stream with: the same verdict in process and behind real uvicorn and hypercorn.

sse-starlette, FastAPI StreamingResponse (async and sync generators), Litestar Stream and Django's
ASGI handler (async view, StreamingHttpResponse, def view), each run in process under a server
profile and live behind that server with a client that closes its socket (slow: --agreement,
about 15 s; CI runs it). The whole table is written at the end of the run;
`python scripts/agreement.py --libraries` prints the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.agreement_script import LIBRARY_ROWS, SLACK, load
from tests.library_apps import CASES, LibraryCase

pytestmark = pytest.mark.agreement


def _params() -> Iterator[Any]:
    for case in CASES:
        yield pytest.param(case, id=case.title.replace(" ", "-"))


@pytest.fixture
def table(pytestconfig: pytest.Config) -> list[Any]:
    """Rows for the table written at the end of the run."""
    return pytestconfig.stash.setdefault(LIBRARY_ROWS, [])


@pytest.mark.parametrize("case", list(_params()))
def test_the_verdict_is_the_real_servers(case: LibraryCase, table: list[Any]) -> None:
    pytest.importorskip(case.module)
    agreement = load()
    app = agreement.Case(case.title, case.build(), path=case.path, options=dict(case.options))
    rows = list(agreement.rows([app], agreement.LIVE_SERVERS, "fin"))
    table.extend(rows)
    print("\n".join(agreement.table(rows, SLACK)))
    seen = [(row.profile, row.in_process.verdict, row.live.verdict if row.live else row.live_error)
            for row in rows]
    assert seen == [(server, case.expected, case.expected) for server in agreement.LIVE_SERVERS]
    assert [row.agrees(SLACK) for row in rows] == [True] * len(rows)
