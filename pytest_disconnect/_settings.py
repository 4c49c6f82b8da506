"""Disconnect settings: one list of option specs, one validator each, one resolver.

Precedence, lowest first: built-in default < ini file (and ``-o``) < command
line < marker (function > class > module) < keyword arguments of run()/arun().
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, Literal, TypedDict, TypeVar

from ._asgi.servers import DEFAULT_SERVER, PROFILES
from ._asgi.trigger import TRIGGER_SYNTAX, Trigger, parse_trigger
from ._watch.lifetime import parse_names

if TYPE_CHECKING:
    import pytest

T = TypeVar("T")


class DisconnectError(Exception):
    """Base class for every error pytest-disconnect raises into a test."""


class SettingError(DisconnectError, ValueError):
    """A disconnect setting (option, ini value, marker or argument) is invalid.

    The message names the setting, the value and where it came from.
    """


MARKER_NAME = "disconnect"
DEFAULT_TOLERANCE = 1.0
DEFAULT_PATIENCE = 5.0
#: The default moment: right after the request body (at once for a request with no body).
DEFAULT_AFTER = Trigger.after_body_read()


def _parse_seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("seconds >= 0")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("seconds >= 0") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError("seconds >= 0")
    return float(value)


def _one_of(choices: Iterable[str]) -> Callable[[object], str]:
    """A parser for a named choice: case and surrounding spaces do not matter."""
    names = tuple(choices)

    def parse(value: object) -> str:
        if not isinstance(value, str) or value.strip().lower() not in names:
            raise ValueError("one of " + ", ".join(names))
        return value.strip().lower()

    return parse


def add_names(lower: object, upper: object) -> tuple[str, ...]:
    """A list setting: a higher layer adds its names to the lower one's."""
    assert isinstance(lower, tuple) and isinstance(upper, tuple)
    return lower + tuple(name for name in upper if name not in lower)


_SWITCH = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}


def _parse_switch(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _SWITCH:
        return _SWITCH[value.strip().lower()]
    raise ValueError("on or off")


CLOCKS = ("real", "virtual")
DEFAULT_CLOCK = "real"
LIVE_MODES = ("off", "fin", "rst", "half-close")
LIFESPAN_MODES = ("auto", "on", "off")
DEFAULT_LIFESPAN = "auto"


@dataclass(frozen=True)
class OptionSpec(Generic[T]):
    """One setting, as the CLI, the ini file, the marker and run() spell it."""

    name: str
    help: str
    metavar: str
    parse: Callable[[object], T]
    default: T
    #: How a value combines with the one from a lower layer; None: it replaces it.
    merge: Callable[[T, T], T] | None = None
    #: An on/off switch: a bare flag on the command line (``--disconnect-audit``), with its
    #: negative (``--no-disconnect-audit``) to turn an ini value off.
    switch: bool = False
    #: Part of each scenario's settings (reports list it); False for run-wide switches.
    scenario: bool = True

    @property
    def flag(self) -> str:
        return f"--disconnect-{self.name}"

    @property
    def negative_flag(self) -> str:
        return f"--no-disconnect-{self.name}"

    @property
    def ini(self) -> str:
        return f"disconnect_{self.name}"

    @property
    def dest(self) -> str:
        return f"disconnect_{self.name}"


OPTIONS: tuple[OptionSpec[object], ...] = (
    OptionSpec("after", f"when the client leaves: {TRIGGER_SYNTAX} (default: body-read, as soon as "
               "the app has read the request body)", "SECONDS|EVENT", parse_trigger, DEFAULT_AFTER),
    OptionSpec("tolerance", "seconds the app's work may run on after the disconnect "
               f"(default: {DEFAULT_TOLERANCE:g})", "SECONDS", _parse_seconds, DEFAULT_TOLERANCE),
    OptionSpec("patience", "seconds after the disconnect to keep watching work that overran "
               "the tolerance before cancelling it; never shorter than the tolerance "
               f"(default: {DEFAULT_PATIENCE:g})", "SECONDS", _parse_seconds, DEFAULT_PATIENCE),
    OptionSpec("server", "server behaviour to reproduce: " + ", ".join(
        f"{p.name} ({p.summary})" for p in PROFILES.values()) + f" (default: {DEFAULT_SERVER})",
        "NAME", _one_of(PROFILES), DEFAULT_SERVER),
    OptionSpec("clock", "virtual: the event loop jumps to its next timer instead of waiting, so long "
               "sleeps cost no wall time and latencies are exact; time runs at the real rate while "
               f"threads, processes or sockets work (default: {DEFAULT_CLOCK})", "real|virtual",
               _one_of(CLOCKS), DEFAULT_CLOCK),
    OptionSpec("live", "serve the app with the real server named by --disconnect-server (uvicorn or "
               "hypercorn) on 127.0.0.1, and have a real client close its connection: fin, rst or "
               "half-close; slower, asyncio only (default: off, in-process)", "off|fin|rst|half-close",
               _one_of(LIVE_MODES), "off"),
    OptionSpec("lifespan", "run the app's lifespan (startup before the test's first request to it, shutdown "
               "after the test; requests get its state): on, off, or auto, when the app speaks the "
               f"lifespan protocol (default: {DEFAULT_LIFESPAN})", "auto|on|off", _one_of(LIFESPAN_MODES),
               DEFAULT_LIFESPAN),
    OptionSpec("allow", "app-lifetime work: names of tasks, threads or functions that may outlive any "
               "request, such as the app's own lazily started singletons (a cache refresher, a pool "
               "reaper); comma-separated; every layer adds to the list, and run(allow=...) adds to it "
               "(default: none besides the built-in list of known library infrastructure)", "NAMES",
               parse_names, (), merge=add_names),
    OptionSpec("audit", "drive every request made through Starlette's or FastAPI's TestClient, "
               "httpx.ASGITransport or httpx2.ASGITransport through DisconnectTransport, so an unmodified "
               "suite is audited (the moment comes from --disconnect-after); the marker's audit=False "
               "exempts a test (default: off)", "on|off", _parse_switch, False, switch=True, scenario=False),
)
OPTION_NAMES = tuple(spec.name for spec in OPTIONS)
#: The settings each scenario reports (run-wide switches such as audit are left out).
SCENARIO_NAMES = tuple(spec.name for spec in OPTIONS if spec.scenario)
_SPECS = {spec.name: spec for spec in OPTIONS}



class TransportOptions(TypedDict, total=False):
    """The settings DisconnectTransport() takes as keywords. Each is the OPTIONS entry of its name
    (parsed, explained and documented there: tests/test_settings.py holds the two together);
    ``None`` keeps the lower layer's value."""

    after: float | Trigger | str | None
    tolerance: float | None
    patience: float | None
    server: str | None
    clock: str | None
    live: str | None


class CallOptions(TransportOptions, total=False):
    """run()'s and arun()'s: also ``lifespan`` (a transport, as httpx's ASGITransport, runs none).
    ``allow`` is an argument of its own there, as it adds to the other layers' list."""

    lifespan: str | None


CALL_OPTIONS = frozenset(CallOptions.__optional_keys__)
TRANSPORT_OPTIONS = frozenset(TransportOptions.__optional_keys__)


def keyword_options(where: str, accepted: frozenset[str], given: Mapping[str, object]) -> None:
    """The TypeError Python raises for a keyword ``where`` does not take, for the ones ``**options`` took."""
    __tracebackhide__ = True
    for name in given:
        if name not in accepted:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")


#: Registered marker help, built from the same list so it cannot drift.
MARKER_HELP = (
    f"{MARKER_NAME}(*, " + ", ".join(f"{name}=None" for name in OPTION_NAMES)
    + "): disconnect settings for this test's disconnect.run()/arun() calls"
)

SourceKind = Literal["default", "ini", "override", "cli", "marker", "fixture", "call", "sweep"]


@dataclass(frozen=True)
class Source:
    """Where a value came from, phrased for provenance and for error messages."""

    kind: SourceKind
    detail: str = ""

    def origin(self, spec: OptionSpec[object]) -> str:
        """Provenance as the report prints it: 'after=0.20 s (--disconnect-after)'."""
        return {
            "default": "default",
            "ini": f"{spec.ini} in {self.detail}",
            "override": f"-o {spec.ini}",
            "cli": self.detail or spec.flag,
            "marker": f"@pytest.mark.{MARKER_NAME} on {self.detail}",
            "fixture": f"the {self.detail} fixture",
            "sweep": f"the sweep{self.detail}",
            "call": f"{self.detail} argument",
        }[self.kind]

    def where(self) -> str:
        """'in pyproject.toml', 'on the command line', 'in disconnect.run()'."""
        return {
            "default": "as the default",
            "ini": f"in {self.detail}",
            "override": "in -o",
            "cli": "on the command line",
            "marker": f"in @pytest.mark.{MARKER_NAME} on {self.detail}",
            "fixture": f"in the {self.detail} fixture",
            "sweep": f"in the sweep{self.detail}",
            "call": f"in {self.detail}",
        }[self.kind]

    def invalid(self, spec: OptionSpec[object], raw: object, expected: str) -> str:
        label = {"cli": self.detail or spec.flag, "ini": spec.ini, "override": spec.ini}.get(self.kind, spec.name)
        return f"invalid {label} {raw!r} {self.where()}: expected {expected}"




@dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings in force for one scenario, and where each came from."""

    after: Trigger = DEFAULT_AFTER
    tolerance: float = DEFAULT_TOLERANCE
    patience: float = DEFAULT_PATIENCE
    server: str = DEFAULT_SERVER
    clock: str = DEFAULT_CLOCK
    live: str = "off"
    lifespan: str = DEFAULT_LIFESPAN
    allow: tuple[str, ...] = ()
    #: Run-wide: requests through TestClient and ASGITransport go through DisconnectTransport.
    audit: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def watch_limit(self) -> float:
        """Seconds after the disconnect before overrunning work is cancelled."""
        return max(self.patience, self.tolerance)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self) -> str:
        """'after=0.50 s (--disconnect-after), tolerance=1.00 s (default), ...'."""
        return ", ".join(f"{name}={self.show(name)} ({self.source(name)})" for name in self.described())

    def described(self) -> tuple[str, ...]:
        """The settings a description lists: the scenario's (not run-wide switches such as audit),
        but an empty allow list, which says nothing."""
        return SCENARIO_NAMES if self.allow else tuple(name for name in SCENARIO_NAMES if name != "allow")

    def show(self, name: str) -> str:
        value = getattr(self, name)
        if isinstance(value, Trigger):
            if value.kind == "client":
                return "when the client gives up"
            return f"{value.seconds:.2f} s" if value.kind == "time" else str(value)
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, float):
            return f"{value:.2f} s"
        if isinstance(value, tuple):
            return ", ".join(value) or "none"
        return str(value)


def apply(base: Settings, source: Source, values: Mapping[str, object]) -> Settings:
    """Layer ``values`` from ``source`` over ``base``; ``None`` means 'not set here'.

    Every source goes through the same per-option validator, so errors read alike.
    """
    changes: dict[str, object] = {}
    sources = dict(base.sources)
    for name, raw in values.items():
        spec = _SPECS.get(name)
        if spec is None:
            raise SettingError(
                f"unknown keyword {name!r} {source.where()}: expected one of {', '.join(OPTION_NAMES)}"
            )
        if raw is None or (raw == "" and source.kind == "ini"):  # an ini option not set reads ""
            continue
        if raw == "":
            raise SettingError(source.invalid(spec, raw, "a value; leave the option out to keep "
                                                         "the lower layer's (see the precedence)"))
        try:
            value = spec.parse(raw)
        except ValueError as exc:
            raise SettingError(source.invalid(spec, raw, str(exc))) from None
        if spec.merge is not None:
            lower = getattr(base, name)
            value = spec.merge(lower, value)
            if lower:  # say every layer that added names
                sources[name] = f"{sources.get(name, 'default')} + {source.origin(spec)}"
                changes[name] = value
                continue
        changes[name] = value
        sources[name] = source.origin(spec)
    if not changes:
        return base
    return replace(base, **changes, sources=sources)  # type: ignore[arg-type]


def ini_source(config: pytest.Config, spec: OptionSpec[object]) -> Source:
    overrides = getattr(config.option, "override_ini", None) or []
    if any(entry.split("=", 1)[0].strip() == spec.ini for entry in overrides):
        return Source("override")
    inipath = config.inipath
    return Source("ini", inipath.name if inipath is not None else "the ini file")


def resolve_config(config: pytest.Config) -> Settings:
    """Default < ini (and -o) < command line. Raises SettingError naming the source."""
    settings = Settings()
    for spec in OPTIONS:
        raw_ini = config.getini(spec.ini)
        settings = apply(settings, ini_source(config, spec), {spec.name: raw_ini})
    for spec in OPTIONS:
        value = config.getoption(spec.dest)
        # A switch turned off on the command line says so with the flag that did it.
        source = Source("cli", spec.negative_flag) if spec.switch and value == "off" else Source("cli")
        settings = apply(settings, source, {spec.name: value})
    if settings.live != "off" and settings.server == "asgi-2.4":
        # Every test would fail alike: one usage error at start-up instead.
        raise SettingError(f"live={settings.live} ({settings.source('live')}) needs a real server, but "
                           f"server=asgi-2.4 ({settings.source('server')}) has none: choose uvicorn or "
                           "hypercorn, or live=off")
    return settings


def marker_layers(item: pytest.Item) -> list[tuple[Source, Mapping[str, object]]]:
    """Marker layers, farthest first, so that applying them in order lets the nearest win."""
    layers: list[tuple[Source, Mapping[str, object]]] = []
    for node, mark in item.iter_markers_with_node(MARKER_NAME):
        where = Source("marker", node.nodeid if node is item else node.name)
        if mark.args:
            raise SettingError(
                f"@pytest.mark.{MARKER_NAME} on {where.detail} takes keyword arguments only "
                f"({', '.join(OPTION_NAMES)}), not {mark.args!r}"
            )
        layers.append((where, mark.kwargs))
    layers.reverse()
    return layers


def resolve(config_settings: Settings, layers: Iterable[tuple[Source, Mapping[str, object]]]) -> Settings:
    """Apply marker and call layers, in order, over the run-wide settings."""
    settings = config_settings
    for source, values in layers:
        settings = apply(settings, source, values)
    return settings
