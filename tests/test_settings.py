"""Settings: validators, sources and the precedence order, as pure functions."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_disconnect import Disconnect, DisconnectTransport, SettingError, Settings, Trigger
from pytest_disconnect._asgi.trigger import TRIGGER_SYNTAX, parse_trigger
from pytest_disconnect._settings import MARKER_HELP, OPTION_NAMES, OPTIONS, Source, apply, resolve

CLI = Source("cli")
INI = Source("ini", "pyproject.toml")
OVERRIDE = Source("override")
MARKER = Source("marker", "tests/test_app.py::test_report")
CALL = Source("call", "disconnect.run()")


class TestTriggers:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("0.2", Trigger.at(0.2)),
            (0.2, Trigger.at(0.2)),
            (3, Trigger.at(3.0)),
            (" Never ", Trigger.never()),
            ("body-read", Trigger.after_body_read()),
            ("request-chunks:2", Trigger.after_request_chunks(2)),
            ("response-start", Trigger.after_response_start()),
            ("response-chunks:3", Trigger.after_response_chunks(3)),
            (Trigger.never(), Trigger.never()),
        ],
    )
    def test_accepted_forms(self, raw: object, expected: Trigger) -> None:
        assert parse_trigger(raw) == expected

    @pytest.mark.parametrize("raw", ["abc", "-1", "nan", "inf", True, None, "response-chunks:x", [1]])
    def test_rejected_forms_say_what_is_accepted(self, raw: object) -> None:
        with pytest.raises(ValueError, match=r"^seconds >= 0, or one of"):
            parse_trigger(raw)

    @pytest.mark.parametrize(
        "trigger",
        [Trigger.at(0.25), Trigger.never(), Trigger.after_body_read(), Trigger.after_request_chunks(0),
         Trigger.after_response_start(), Trigger.after_response_chunks(4)],
    )
    def test_str_round_trips(self, trigger: Trigger) -> None:
        assert parse_trigger(str(trigger)) == trigger

    def test_describe(self) -> None:
        assert Trigger.at(0.5).describe() == "at 0.50 s"
        assert Trigger.after_response_chunks(1).describe() == "after 1 chunk of the response body"
        assert Trigger.after_request_chunks(2).describe() == "after 2 chunks of the request body"

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: Trigger.at(-1), "takes seconds >= 0"),
            (lambda: Trigger.at("1"), "takes seconds as a number"),  # type: ignore[arg-type]
            (lambda: Trigger.after_response_chunks(-1), "takes a whole number >= 0"),
            (lambda: Trigger.after_request_chunks(1.5), "takes a whole number >= 0"),  # type: ignore[arg-type]
        ],
    )
    def test_constructors_check_their_arguments(self, build: object, message: str) -> None:
        with pytest.raises((TypeError, ValueError), match=message):
            build()  # type: ignore[operator]


class TestValidation:
    @pytest.mark.parametrize(
        ("source", "values", "message"),
        [
            (INI, {"after": "abc"},
             f"invalid disconnect_after 'abc' in pyproject.toml: expected {TRIGGER_SYNTAX}"),
            (CLI, {"tolerance": "-1"},
             "invalid --disconnect-tolerance '-1' on the command line: expected seconds >= 0"),
            (OVERRIDE, {"patience": "x"}, "invalid disconnect_patience 'x' in -o: expected seconds >= 0"),
            (MARKER, {"server": "gunicorn"},
             "invalid server 'gunicorn' in @pytest.mark.disconnect on tests/test_app.py::test_report: "
             "expected one of uvicorn, hypercorn, asgi-2.4"),
            (CALL, {"tolerance": True},
             "invalid tolerance True in disconnect.run(): expected seconds >= 0"),
            (MARKER, {"aftr": 1},
             "unknown keyword 'aftr' in @pytest.mark.disconnect on tests/test_app.py::test_report: "
             "expected one of after, tolerance, patience, server, clock, live, lifespan, allow, audit"),
        ],
    )
    def test_errors_name_the_setting_the_value_and_the_source(
            self, source: Source, values: dict[str, object], message: str) -> None:
        with pytest.raises(SettingError) as caught:
            apply(Settings(), source, values)
        assert str(caught.value) == message

    def test_none_and_empty_mean_not_set(self) -> None:
        assert apply(Settings(), INI, {"after": "", "tolerance": None}) == Settings()

    def test_watch_limit_is_never_shorter_than_the_tolerance(self) -> None:
        assert Settings(tolerance=3.0, patience=1.0).watch_limit == 3.0
        assert Settings(tolerance=1.0, patience=5.0).watch_limit == 5.0


# Every pair of sources, both directions: the later one in this list wins.
ORDER = [Source("default"), INI, CLI, MARKER, CALL]
PAIRS = [(low, high) for i, low in enumerate(ORDER[1:], 1) for high in ORDER[i + 1:]]


class TestPrecedence:
    @pytest.mark.parametrize(("low", "high"), PAIRS, ids=lambda source: source.kind)
    def test_the_higher_source_wins_in_either_order_of_values(self, low: Source, high: Source) -> None:
        for low_value, high_value in (("0.1", "0.2"), ("0.2", "0.1")):
            settings = resolve(Settings(), [(low, {"tolerance": low_value}), (high, {"tolerance": high_value})])
            assert settings.tolerance == float(high_value)
            assert settings.source("tolerance") == high.origin(OPTIONS[1])

    def test_a_source_that_does_not_set_a_value_leaves_the_lower_one(self) -> None:
        settings = resolve(Settings(), [(INI, {"after": "0.3"}), (CLI, {"after": None, "tolerance": "2"})])
        assert (settings.after, settings.tolerance) == (Trigger.at(0.3), 2.0)
        assert settings.describe() == (
            "after=0.30 s (disconnect_after in pyproject.toml), tolerance=2.00 s (--disconnect-tolerance), "
            "patience=5.00 s (default), server=uvicorn (default), clock=real (default), live=off (default), "
            "lifespan=auto (default)"
        )

    def test_origins(self) -> None:
        after = OPTIONS[0]
        assert [source.origin(after) for source in (*ORDER, OVERRIDE)] == [
            "default", "disconnect_after in pyproject.toml", "--disconnect-after",
            "@pytest.mark.disconnect on tests/test_app.py::test_report", "disconnect.run() argument",
            "-o disconnect_after",
        ]


def test_marker_help_lists_every_option() -> None:
    assert MARKER_HELP.startswith(
        "disconnect(*, after=None, tolerance=None, patience=None, server=None, clock=None, live=None, lifespan=None, "
        "allow=None, audit=None): ")
    assert OPTION_NAMES == ("after", "tolerance", "patience", "server", "clock", "live", "lifespan", "allow", "audit")


class TestAllow:
    """disconnect_allow: a list, in which every layer adds names rather than replacing them."""

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("refresh_cache", ("refresh_cache",)), (" a, b  c,,a ", ("a", "b", "c")),
         (["reap_pool", "refresh_cache"], ("reap_pool", "refresh_cache"))],
    )
    def test_accepted_forms(self, raw: object, expected: tuple[str, ...]) -> None:
        assert apply(Settings(), INI, {"allow": raw}).allow == expected

    @pytest.mark.parametrize("raw", [3, ["two words"], [""], [None]])
    def test_rejected_forms_name_the_source(self, raw: object) -> None:
        with pytest.raises(SettingError, match=r"^invalid disconnect_allow .* in pyproject.toml: expected names"):
            apply(Settings(), INI, {"allow": raw})

    def test_layers_add_up_and_say_where_each_name_came_from(self) -> None:
        settings = apply(apply(Settings(), INI, {"allow": "refresh_cache"}), CLI, {"allow": "reap_pool,refresh_cache"})
        assert settings.allow == ("refresh_cache", "reap_pool")
        assert settings.source("allow") == "disconnect_allow in pyproject.toml + --disconnect-allow"

    def test_an_empty_list_is_left_out_of_the_description(self) -> None:
        assert "allow" not in Settings().describe()
        assert apply(Settings(), CLI, {"allow": "x"}).describe().endswith(", allow=x (--disconnect-allow)")


def test_every_entry_point_takes_the_option_list() -> None:
    """run(), arun() and DisconnectTransport() take OPTIONS' scenario settings through one TypedDict
    each, with the types their parsers accept: the keyword lists cannot drift from the options."""
    import typing

    from pytest_disconnect._settings import (
        CALL_OPTIONS,
        OPTIONS,
        SCENARIO_NAMES,
        TRANSPORT_OPTIONS,
        CallOptions,
        TransportOptions,
    )

    specs = {spec.name: spec for spec in OPTIONS}
    call = typing.get_type_hints(CallOptions)
    assert set(call) == CALL_OPTIONS == set(SCENARIO_NAMES) - {"allow"}  # allow: its own argument, a list
    assert set(typing.get_type_hints(TransportOptions)) == TRANSPORT_OPTIONS == CALL_OPTIONS - {"lifespan"}
    for name, hint in call.items():
        assert {type(None), type(specs[name].default)} <= set(typing.get_args(hint)), name
    for function, wanted in ((Disconnect.run, "CallOptions"), (Disconnect.arun, "CallOptions"),
                             (DisconnectTransport.__init__, "TransportOptions")):
        options = inspect.signature(function).parameters["options"]
        assert options.kind is inspect.Parameter.VAR_KEYWORD and options.annotation == f"Unpack[{wanted}]"
    reference = (Path(__file__).parent.parent / "docs" / "reference.md").read_text()
    assert [name for name in sorted(CALL_OPTIONS) if f"| `{name}` |" not in reference] == []


@pytest.mark.parametrize(("call", "where"), [
    (lambda d: d.run(None, "GET", "/", tolerence=1.0), "Disconnect.run()"),
    (lambda d: asyncio.run(d.arun(None, "GET", "/", audit=True)), "Disconnect.arun()"),
    (lambda d: DisconnectTransport(None, lifespan="on"),  # type: ignore[arg-type, call-arg]
     "DisconnectTransport.__init__()"),
])
def test_an_unknown_keyword_is_the_type_error_python_raises(call: Any, where: str) -> None:
    with pytest.raises(TypeError, match=rf"^{re.escape(where)} got an unexpected keyword argument '\w+'$"):
        call(Disconnect())
