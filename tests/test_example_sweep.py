"""The sweep of the examples' apps, as docs/sweep.md shows it: examples/app.py and examples/audit/shop.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_sweep_finds_the_handlers_that_keep_working(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "app.py", pytester.path / "app.py")
    shutil.copy(EXAMPLES / "audit" / "shop.py", pytester.path / "shop.py")

    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-v", "--disconnect-sweep=app:app",
                                           "--disconnect-sweep=shop:app", "--disconnect-report=disconnect.json", "-rA")

    outcomes: dict[str, str] = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED"):
            if line.startswith("disconnect-sweep[") and f" {word}" in line:
                outcomes[line.split("::", 1)[1].split(f" {word}")[0]] = word
    assert outcomes == {
        "GET /no-context": "FAILED", "GET /with-context": "PASSED", "GET /cancel-on-disconnect": "PASSED",
        "GET /products": "PASSED", "GET /products/{product_id}": "PASSED", "POST /products": "PASSED",
        "GET /reports/sales": "PASSED", "GET /reports/bestsellers": "FAILED", "GET /exports/stock.csv": "FAILED",
    }
    result.stdout.fnmatch_lines([
        "GET /no-context: the simplest failing moment in * tried is after=request-chunks:0; request: GET /no-context",
        "  handler: app.py:*",
    ], consecutive=True)
    # The body was generated from the schema (FastAPI answered 201, not 422, so the handler ran).
    result.stdout.fnmatch_lines(['POST /products: * moments tried with POST /products with JSON '
                                 '{"name": "", "price_cents": 0}, every one stopped in time or finished first'])
    report = json.loads((pytester.path / "disconnect.json").read_text(encoding="utf-8"))
    assert report["summary"]["failing_endpoints"] == 3
