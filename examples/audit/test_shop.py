"""The shop's tests: an ordinary httpx suite, as most FastAPI projects have one.

Run them:    python -m pytest examples/audit
Audit them:  python -m pytest examples/audit --disconnect-after=0.1

The only change for the audit is the transport line in the ``client`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from shop import app

from pytest_disconnect import DisconnectTransport

pytestmark = pytest.mark.anyio

# In your own project these two fixtures would usually sit in conftest.py. Here they stay in
# the test module: examples/ has a conftest.py already, and mypy, which checks all of
# examples/, refuses two top-level modules named conftest.


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # overrides examples/conftest.py, which runs each test on trio too


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = DisconnectTransport(app)  # was: transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_list_products(client: httpx.AsyncClient) -> None:
    response = await client.get("/products")
    assert response.status_code == 200
    assert {"teapot", "mug"} <= {product["name"] for product in response.json()}


async def test_get_product(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/1")
    assert response.status_code == 200
    assert response.json() == {"id": 1, "name": "teapot", "price_cents": 2500}


async def test_get_missing_product(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such product"}


async def test_create_product(client: httpx.AsyncClient) -> None:
    response = await client.post("/products", json={"name": "tea cosy", "price_cents": 1200})
    assert response.status_code == 201
    created = response.json()
    assert created == {"id": created["id"], "name": "tea cosy", "price_cents": 1200}
    assert (await client.get(f"/products/{created['id']}")).json() == created


async def test_sales_report(client: httpx.AsyncClient) -> None:
    response = await client.get("/reports/sales")
    assert response.status_code == 200
    assert response.json() == {"orders": 42, "revenue_cents": 105_000}


async def test_bestsellers(client: httpx.AsyncClient) -> None:
    response = await client.get("/reports/bestsellers")
    assert response.status_code == 200
    prices = [product["price_cents"] for product in response.json()]
    assert prices == sorted(prices, reverse=True)
    assert response.json()[0]["name"] == "teapot"


async def test_export_stock(client: httpx.AsyncClient) -> None:
    response = await client.get("/exports/stock.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[:2] == ["id,name,in_stock", "1,teapot,7"]
