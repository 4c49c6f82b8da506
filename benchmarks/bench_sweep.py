"""Routes swept per second: the sample app (examples/app.py) and the shop (examples/audit/shop.py).

Run:  python benchmarks/bench_sweep.py

Each route is swept as ``--disconnect-sweep`` does (a valid request found, then up to 20
disconnect moments searched, 3 s of wall time per route at most), once on the real clock
and once on the virtual clock. Printed per app: the routes, the wall time, routes per
second, the verdicts, and the virtual clock's speed-up. Routes whose work keeps the
virtual clock at the real rate (a busy-polling handler, work in threads) cost real time
on both clocks.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "audit"))
import app as sample
import shop

from pytest_disconnect._asgi.routes import list_routes
from pytest_disconnect._settings import Settings, Source, apply
from pytest_disconnect._sweep.config import RoutePlan
from pytest_disconnect._sweep.items import endpoints
from pytest_disconnect._sweep.run import route_settings, sweep_endpoint


def sweep(app: object, clock: str) -> tuple[float, int, list[str]]:
    base = apply(Settings(), Source("cli"), {"clock": clock})
    plan = RoutePlan()
    verdicts: list[str] = []
    started = time.perf_counter()
    pairs = list(endpoints(list_routes(app)))
    for route, method in pairs:
        began = time.perf_counter()
        try:
            found = sweep_endpoint(app, route, method, plan, route_settings(base, plan), None)  # type: ignore[arg-type]
        except pytest.skip.Exception:
            verdicts.append(f"{method} {route.path}: skipped")
            continue
        failure = found.failure
        outcome = "passed" if failure is None else f"{failure.verdict} at {failure.settings.show('after')}"
        verdicts.append(f"{method} {route.path}: {outcome}, {found.examples} moments, "
                        f"{time.perf_counter() - began:.2f} s")
    return time.perf_counter() - started, len(pairs), verdicts


def main() -> None:
    for name, app in (("examples/app.py", sample.app), ("examples/audit/shop.py", shop.app)):
        walls: dict[str, float] = {}
        for clock in ("real", "virtual"):
            wall, routes, verdicts = sweep(app, clock)
            walls[clock] = wall
            print(f"{name}, {clock} clock: {routes} routes in {wall:.2f} s = {routes / wall:.2f} routes/s")
            for verdict in verdicts:
                print(f"    {verdict}")
        print(f"  virtual clock: {walls['real'] / walls['virtual']:.1f}x faster\n")


if __name__ == "__main__":
    main()
