"""The sweep as pytest items: one per method and route, so -k, --lf, xdist and JUnit work as usual.

``--disconnect-sweep=module:app`` adds a synthetic collector under the session
whose items are named 'GET /items/{item_id}'; ``sweep(app_fixture="app")`` in a
test file gives a test function parametrized by the same names.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._asgi.routes import Route, list_routes
from .._compat import fixture_functions
from .._errors import HandlerKeptRunning
from .._report.ci_plugin import ROUTE_PREFIX
from .._stash import SWEEP_CONFIG_KEY
from .config import ROUTES_INI, check_spec, schema_headers

if TYPE_CHECKING:
    from .._result import DisconnectResult
    from .._types import ASGIApp
    from .config import SweepConfig

SWEEP_ARG = "disconnect_sweep_endpoint"


def load_app(spec: str, rootpath: Path) -> object:
    """'package.module:attribute' (a dotted attribute, or a factory call 'module:create_app()')."""
    check_spec(spec)
    module_name, _, attribute = spec.partition(":")
    for folder in (os.getcwd(), str(rootpath)):  # as uvicorn finds 'main:app' in the current folder
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise pytest.UsageError(f"--disconnect-sweep={spec}: cannot import {module_name!r}: {exc}") from None
    factory = attribute.endswith("()")
    for part in attribute.removesuffix("()").split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise pytest.UsageError(f"--disconnect-sweep={spec}: {module_name!r} has no attribute "
                                    f"{attribute.removesuffix('()')!r}") from None
    return target() if factory else target


def endpoints(routes: Iterable[Route]) -> Iterator[tuple[Route, str]]:
    for route in routes:
        for method in route.methods:
            yield route, method


class SweepCollector(pytest.Collector):
    """The routes of one app, named after it: 'disconnect-sweep[examples.app:app]'."""

    def __init__(self, *, spec: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        app = load_app(self.spec, self.config.rootpath)
        try:
            routes = list_routes(app, headers=schema_headers(_config(self.config)))
        except TypeError as exc:
            raise pytest.UsageError(f"--disconnect-sweep={self.spec}: {exc}") from None
        return [SweepItem.from_parent(self, name=f"{method} {route.path}", app=app, route=route, method=method)
                for route, method in endpoints(routes)]


class SweepItem(pytest.Item):
    """One endpoint of a swept app."""

    def __init__(self, *, app: object, route: Route, method: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.route = route
        self.method = method
        self.add_marker("disconnect_sweep")

    def runtest(self) -> None:
        run_endpoint(self, self.app, self.route, self.method)  # type: ignore[arg-type]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, HandlerKeptRunning):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        # The domain is not a suffix of the node id, so pytest shows the id as it is (a domain that
        # is one gets its dots turned into '::': 'GET /stock::csv').
        if self.route.file is not None:
            where = _relative(self.route.where, self.config.rootpath)
            return self.route.file, (self.route.line or 1) - 1, f"{self.name} ({where})"
        return self.path, None, f"{self.name} (in {self.parent.name if self.parent else 'the sweep'})"


def run_endpoint(item: pytest.Item, app: ASGIApp, route: Route, method: str) -> None:
    """Sweep one endpoint as ``item``: skip, pass, or fail with the simplest failing moment's report."""
    __tracebackhide__ = True
    from .._fronts import current as _current
    from .._report.text import failure_message
    from .run import route_settings, sweep_endpoint

    context = _current.current()
    assert context is not None and context.item is item, "the plugin makes each test's context at setup"
    plan = _config(item.config).plan(method, route.path)
    where = _relative(route.where, item.config.rootpath)
    if where is not None:  # for annotations at the handler and the reports' handler column
        item.user_properties.append((ROUTE_PREFIX + f"{method} {route.path}", where))
    settings = route_settings(context.settings, plan)
    found = sweep_endpoint(app, route, method, plan, settings, lambda result: context.record(result, section=False))
    failure = found.failure
    lead = f"{found.note}: " if found.note else f"{method} {route.path}: "
    if failure is None:
        item.add_report_section("call", "disconnect", (
            f"{lead}{found.examples} moments tried with {found.request.describe()}, "
            f"every one stopped in time or finished first"))
        return
    head = (f"{lead}the simplest failing moment in {found.examples} tried is "
            f"after={failure.settings.show('after')}; request: {found.request.describe()}")
    if where is not None:
        head += f"\n  handler: {where}"
    lines = failure_message(failure).splitlines()
    if lines and lines[-1].startswith("  Intended?"):
        lines.pop()  # its marker advice does not reach a swept route: the rule line does
    lines.append(f"  {_rule_advice(method, route.path, failure)}")
    raise HandlerKeptRunning(head + "\n\n" + "\n".join(lines), failure)


def _rule_advice(method: str, path: str, failure: DisconnectResult) -> str:
    """The sweep's own way to accept a route's behaviour: a rule line, not a marker."""
    latency = failure.latency
    if failure.verdict == "leaked":
        names = sorted({record.name for record in failure.still_running if record.kind != "app"})
        change = ", ".join(f"allow={name}" for name in names) if names else "skip"
    elif latency is not None:
        change = f"tolerance={math.ceil(latency * 1.25 * 10) / 10:g}"
    else:
        change = "skip"
    return f"Intended? Accept it for this route: {ROUTES_INI} = \"{method} {path}: {change}\""


def _relative(where: str | None, root: Path) -> str | None:
    """'examples/app.py:25' for a handler under the rootdir; as it was otherwise."""
    if where is None:
        return None
    try:
        return Path(where).relative_to(root).as_posix()
    except ValueError:
        return where


def _config(config: pytest.Config) -> SweepConfig:
    return config.stash[SWEEP_CONFIG_KEY]


# --- sweep(app_fixture=...) in a test file ------------------------------------------------------------------

def sweep(*, app_fixture: str = "app", app: str | None = None) -> Callable[..., None]:
    """A test function sweeping every route of the app the ``app_fixture`` fixture gives, one test each.

    ::

        from pytest_disconnect import sweep

        test_api_disconnects = sweep(app_fixture="app")

    The routes are listed at collection, from the fixture's function called on its own
    (an app factory that needs no other fixture), or from ``app="module:attribute"``,
    an app with the same routes; each test then sweeps the fixture's app.
    """
    if not isinstance(app_fixture, str) or not app_fixture.isidentifier():
        raise TypeError(f"sweep(app_fixture=...) takes a fixture name, not {app_fixture!r}")

    def test(request: pytest.FixtureRequest, **kwargs: Any) -> None:
        __tracebackhide__ = True
        route, method = kwargs[SWEEP_ARG]
        run_endpoint(request.node, request.getfixturevalue(app_fixture), route, method)

    parameters = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY)
                  for name in ("request", SWEEP_ARG, app_fixture)]
    test.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    test.disconnect_sweep = (app_fixture, app)  # type: ignore[attr-defined]  # as Hypothesis's test.hypothesis
    test.__doc__ = f"Sweep every route of the {app_fixture!r} fixture's app for work that outlives a disconnect."
    return test


def parametrize(metafunc: pytest.Metafunc) -> None:
    """pytest_generate_tests for a sweep() function: one test per endpoint."""
    marker = getattr(metafunc.function, "disconnect_sweep", None)
    if marker is None:
        return
    app_fixture, spec = marker
    app = load_app(spec, metafunc.config.rootpath) if spec is not None else _app_at_collection(metafunc,
                                                                                               app_fixture)
    pairs = list(endpoints(list_routes(app, headers=schema_headers(_config(metafunc.config)))))
    metafunc.parametrize(SWEEP_ARG, pairs, ids=[f"{method} {route.path}" for route, method in pairs])


def _app_at_collection(metafunc: pytest.Metafunc, name: str) -> object:
    """Call the fixture's own function to learn the routes (the test itself gets the real fixture value).

    pytest has no public way to reach a fixture's function at collection: see _compat.fixture_functions.
    """
    where = f"sweep(app_fixture={name!r}) in {metafunc.definition.nodeid}"
    functions = list(fixture_functions(metafunc, name))
    if not functions:
        raise pytest.UsageError(f"{where}: no fixture named {name!r} is visible here")
    func = functions[-1]
    wanted = [p for p in inspect.signature(func).parameters.values() if p.default is inspect.Parameter.empty]
    if wanted or inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise pytest.UsageError(
            f"{where}: the routes are listed at collection, and the fixture {name!r} needs "
            f"{'other fixtures' if wanted else 'an event loop'}: pass sweep(app_fixture={name!r}, "
            "app='package.module:app'), an app with the same routes")
    value = func()
    if inspect.isgenerator(value):
        generator = value
        value = next(generator)
        generator.close()
    return value
