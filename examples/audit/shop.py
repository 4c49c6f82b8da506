"""A small shop service: a product catalogue, two reports and a stock export.

The catalogue endpoints answer at once. The other three each take 1.5 s, and only
/reports/sales stops when the client leaves. Its tests, in test_shop.py, are the
ordinary httpx kind and pass; the audit (see examples/README.md) finds the other two.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel

app = FastAPI(title="shop")

SLOW_QUERY = 1.5  # seconds: stands in for a query over the whole orders table
STOCK_BATCHES = 15  # the stock export fetches its rows in this many blocking steps


class NewProduct(BaseModel):
    name: str
    price_cents: int


class Product(NewProduct):
    id: int


class SalesReport(BaseModel):
    orders: int
    revenue_cents: int


CATALOGUE: dict[int, Product] = {
    1: Product(id=1, name="teapot", price_cents=2500),
    2: Product(id=2, name="mug", price_cents=800),
}


@app.get("/products")
async def list_products() -> list[Product]:
    return list(CATALOGUE.values())


@app.get("/products/{product_id}")
async def get_product(product_id: int) -> Product:
    if product_id not in CATALOGUE:
        raise HTTPException(status_code=404, detail="no such product")
    return CATALOGUE[product_id]


@app.post("/products", status_code=201)
async def create_product(new: NewProduct) -> Product:
    product = Product(id=max(CATALOGUE) + 1, name=new.name, price_cents=new.price_cents)
    CATALOGUE[product.id] = product
    return product


@asynccontextmanager
async def cancel_on_disconnect(request: Request) -> AsyncIterator[None]:
    """Run the ``async with`` body; cancel it as soon as the client disconnects.

    The watcher task waits in ``request.receive()`` (no polling), so it costs nothing
    while the work runs. Enter it after the request body was read.
    """
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass  # the rest of the request body: keep waiting
            group.cancel_scope.cancel()  # cancels the body, and this watcher

        group.start_soon(watch)
        yield
        group.cancel_scope.cancel()  # the body finished first: stop the watcher


@app.get("/reports/sales")
async def sales_report(request: Request) -> SalesReport | None:
    # Correct: the slow query is cancelled when the client leaves.
    async with cancel_on_disconnect(request):
        await anyio.sleep(SLOW_QUERY)
        return SalesReport(orders=42, revenue_cents=105_000)
    return None  # the client left: nobody is waiting for the report


@app.get("/reports/bestsellers")
async def bestsellers() -> list[Product]:
    # Bug: never looks at the connection. A client that gives up after 0.1 s leaves
    # this query running for the full 1.5 s, and its retry starts another one.
    await anyio.sleep(SLOW_QUERY)
    return sorted(CATALOGUE.values(), key=lambda product: product.price_cents, reverse=True)


@app.get("/exports/stock.csv")
def export_stock() -> Response:
    # Bug: a sync `def` endpoint, so FastAPI runs it in a worker thread. Cancellation
    # does not reach threads: the loop runs to the end whether anyone is waiting or not.
    for _ in range(STOCK_BATCHES):
        time.sleep(SLOW_QUERY / STOCK_BATCHES)  # a blocking driver fetching a batch of rows
    rows = [f"{product.id},{product.name},7" for product in CATALOGUE.values()]
    return Response("\n".join(["id,name,in_stock", *rows]) + "\n", media_type="text/csv")
