"""The library's tests: unmodified TestClient tests, as FastAPI's documentation teaches them.

Run them:    python -m pytest examples/audit_testclient
Audit them:  python -m pytest examples/audit_testclient --disconnect-audit --disconnect-after=0.1

Nothing here changes for the audit: --disconnect-audit routes TestClient's requests through
the plugin's transport, and the TestClient's `with` block still runs the lifespan.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from library import app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as client:  # runs the lifespan: handlers read request.state.catalogue
        yield client


def test_list_books(client: TestClient) -> None:
    assert [book["title"] for book in client.get("/books").json()] == ["Dubliners", "Ulysses"]


def test_get_book(client: TestClient) -> None:
    assert client.get("/books/2").json() == {"id": 2, "title": "Ulysses"}


def test_get_missing_book(client: TestClient) -> None:
    assert client.get("/books/9").status_code == 404


def test_search(client: TestClient) -> None:
    assert client.get("/search", params={"q": "dub"}).json() == [{"id": 1, "title": "Dubliners"}]


def test_stats(client: TestClient) -> None:
    assert client.get("/stats").json() == {"books": 2, "loans": 42}


def test_recommendations(client: TestClient) -> None:
    assert len(client.get("/recommendations").json()) == 1
