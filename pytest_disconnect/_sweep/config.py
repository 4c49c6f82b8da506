"""Per-route sweep configuration without code: the ``disconnect_sweep_routes`` ini table.

One line per rule, ``METHOD PATH: key=value, ...``; METHOD may be ``*`` and PATH
is matched against the route's template with shell wildcards::

    [tool.pytest.ini_options]
    disconnect_sweep_routes = [
        "GET /health: skip",
        "POST /upload: tolerance=3",
        "GET /events: allow=heartbeat_loop",
        "GET /products/{product_id}: path=/products/1",
        "* /admin/*: skip=needs a login",
    ]

Later lines win for the same key. Keys: ``skip`` (optionally ``skip=reason``),
``allow`` (a name of work that may outlive the request; repeat it for more),
``path`` (the request path to send instead of a generated one), ``param``
(``param=NAME=VALUE``: the value of the route's parameter NAME, a path parameter or
one its OpenAPI operation declares; a route without it ignores it), ``query``
(``query=NAME=VALUE``, added to the query string), ``header`` (``header=NAME: VALUE``,
sent with every request: a login's token or cookie), ``examples`` and
``seconds`` (this route's search budget), and the disconnect settings
``tolerance``, ``patience``, ``clock`` and ``server``, parsed by the same
validators as everywhere else.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import final

from pytest import UsageError

from .._asgi.routes import template
from .._errors import SettingError
from .._settings import OPTIONS

ROUTES_INI = "disconnect_sweep_routes"
EXAMPLES_INI = "disconnect_sweep_examples"
SECONDS_INI = "disconnect_sweep_seconds"
DEFAULT_EXAMPLES = 20
DEFAULT_SECONDS = 3.0

#: Disconnect settings a route line may set (``after`` is what the sweep searches, ``live`` is per run).
ROUTE_SETTINGS = ("tolerance", "patience", "clock", "server")
_KEYS = ("skip", "allow", "path", "param", "query", "header", "examples", "seconds", *ROUTE_SETTINGS)
_SPECS = {spec.name: spec for spec in OPTIONS}

ROUTES_HELP = ("per-route sweep rules, one per line: 'METHOD PATH: key=value, ...' (METHOD may be *, PATH takes "
               "wildcards); keys: " + ", ".join(_KEYS))
EXAMPLES_HELP = f"disconnect moments the sweep tries per route (default: {DEFAULT_EXAMPLES})"
SECONDS_HELP = f"wall-clock seconds the sweep spends searching one route (default: {DEFAULT_SECONDS:g})"


@final
@dataclass(frozen=True)
class Budget:
    """How much searching one route gets: whichever runs out first."""

    examples: int = DEFAULT_EXAMPLES
    seconds: float = DEFAULT_SECONDS


@final
@dataclass(frozen=True)
class RoutePlan:
    """What the rules say for one endpoint."""

    skip: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    path: str | None = None
    #: The route's parameters by name, from param=NAME=VALUE.
    params: Mapping[str, str] = field(default_factory=dict)
    #: Added to the query string, from query=NAME=VALUE.
    query: Mapping[str, str] = field(default_factory=dict)
    #: Sent with every request, from header=NAME: VALUE (names in lower case).
    headers: Mapping[str, str] = field(default_factory=dict)
    budget: Budget = Budget()
    #: The rule lines that applied, for the report.
    rules: tuple[str, ...] = ()


@final
@dataclass(frozen=True)
class Rule:
    method: str
    pattern: str
    values: tuple[tuple[str, object], ...]
    line: str

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method.upper()) and fnmatch.fnmatchcase(path, self.pattern)


@final
@dataclass(frozen=True)
class SweepConfig:
    rules: tuple[Rule, ...] = ()
    budget: Budget = Budget()

    def plan(self, method: str, path: str) -> RoutePlan:
        skip: str | None = None
        settings: dict[str, object] = {}
        allow: list[str] = []
        fixed_path: str | None = None
        params: dict[str, str] = {}
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        examples, seconds = self.budget.examples, self.budget.seconds
        used: list[str] = []
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            used.append(rule.line)
            for key, value in rule.values:
                if key == "skip":
                    skip = str(value)
                elif key == "allow":
                    allow.append(str(value))
                elif key == "path":
                    fixed_path = str(value)
                elif key == "header":
                    name, _, given = str(value).partition(":")
                    headers[name.lower()] = given.strip()
                elif key in ("param", "query"):
                    name, _, given = str(value).partition("=")
                    (params if key == "param" else query)[name] = given
                elif key == "examples":
                    examples = int(value)  # type: ignore[call-overload]
                elif key == "seconds":
                    seconds = float(value)  # type: ignore[arg-type]
                else:
                    settings[key] = value
        return RoutePlan(skip, settings, tuple(allow), fixed_path, params, query, headers,
                         Budget(examples, seconds), tuple(used))


def schema_headers(config: SweepConfig) -> Callable[[str], Sequence[tuple[str, str]]]:
    """What to send when the sweep asks the app for its schema at a path: the header= rules for GET there."""
    return lambda path: tuple(config.plan("GET", path).headers.items())


def parse(lines: Sequence[str], where: str, *, examples: str = "", seconds: str = "") -> SweepConfig:
    """The ini values; ``where`` names the file for errors ('in pyproject.toml')."""
    budget = Budget(
        _count(examples, f"invalid {EXAMPLES_INI} {examples!r} {where}") if examples.strip() else DEFAULT_EXAMPLES,
        _seconds(seconds, f"invalid {SECONDS_INI} {seconds!r} {where}") if seconds.strip() else DEFAULT_SECONDS,
    )
    rules = tuple(_rule(line, where) for line in lines if line.strip() and not line.strip().startswith("#"))
    return SweepConfig(rules, budget)


def _rule(line: str, where: str) -> Rule:
    text = line.strip()
    error = f"invalid {ROUTES_INI} line {text!r} {where}"
    head, colon, tail = _split_rule(text)
    if not colon:
        raise SettingError(f"{error}: expected 'METHOD PATH: key=value, ...', e.g. 'GET /health: skip'")
    parts = head.split()
    if len(parts) != 2 or not parts[1].startswith(("/", "*")):
        raise SettingError(f"{error}: expected a method (or *) and a path before the colon, e.g. 'GET /health'")
    # '{pk:path}' as the app and the summary write it matches the route '{pk}' the sweep names
    method, pattern = parts[0].upper(), template(parts[1])
    if method != "*" and not method.isalpha():
        raise SettingError(f"{error}: {parts[0]!r} is not an HTTP method or *")
    values: list[tuple[str, object]] = []
    for item in tail.split(","):
        item = item.strip()
        if not item:
            continue
        key, equals, raw = item.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if key not in _KEYS:
            raise SettingError(f"{error}: unknown key {key!r}: expected one of {', '.join(_KEYS)}")
        if key == "skip":
            values.append((key, raw or f"excluded by {ROUTES_INI}"))
            continue
        if not equals or not raw:
            raise SettingError(f"{error}: {key} needs a value ({key}=...)")
        values.append((key, _value(key, raw, error)))
    if not values:
        raise SettingError(f"{error}: nothing after the colon: expected key=value, e.g. 'skip' or 'tolerance=3'")
    return Rule(method, pattern, tuple(values), text)


def _split_rule(text: str) -> tuple[str, str, str]:
    """At the first colon outside braces: '{pk:path}' is part of the path."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == ":" and depth <= 0:
            return text[:index], ":", text[index + 1:]
    return text, "", ""


def _value(key: str, raw: str, error: str) -> object:
    if key == "examples":
        return _count(raw, error)
    if key == "seconds":
        return _seconds(raw, error)
    if key == "path":
        if not raw.startswith("/"):
            raise SettingError(f"{error}: path expected a request path starting with '/', not {raw!r}")
        return raw
    if key == "allow":
        return raw
    if key == "header":
        name, colon, value = raw.partition(":")
        if not colon or not name.strip() or not value.strip():
            raise SettingError(f"{error}: header expected 'NAME: VALUE', e.g. header=Authorization: Bearer t0ken, "
                               f"not {raw!r}")
        return f"{name.strip()}: {value.strip()}"
    if key in ("param", "query"):
        name, equals, _ = raw.partition("=")
        if not equals or not name.strip():
            raise SettingError(f"{error}: {key} expected NAME=VALUE, e.g. {key}=item_id=1, not {raw!r}")
        return f"{name.strip()}={raw.partition('=')[2].strip()}"
    try:  # the same validators as the CLI, the ini file and the marker
        return _SPECS[key].parse(raw)
    except ValueError as exc:
        raise SettingError(f"{error}: {key} expected {exc}") from None


def _count(raw: str, error: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingError(f"{error}: expected a whole number >= 1") from None
    if value < 1:
        raise SettingError(f"{error}: expected a whole number >= 1")
    return value


def _seconds(raw: str, error: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingError(f"{error}: expected seconds > 0") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingError(f"{error}: expected seconds > 0")
    return value


def check_spec(spec: str) -> None:
    module, colon, attribute = spec.partition(":")
    if not colon or not module.strip() or not attribute.strip():
        raise UsageError(f"--disconnect-sweep expects 'module:app', e.g. 'myproject.main:app', not {spec!r}")
