"""The suite's own hygiene: what one test does to the process does not reach the next."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.logging_guard import root_logger_restored


def test_an_app_that_configures_logging_leaves_the_root_logger_as_it_was() -> None:
    litestar = pytest.importorskip("litestar")
    root = logging.getLogger()
    before = (_lasting(root.handlers), root.level)
    with root_logger_restored():
        litestar.Litestar([])
        assert _lasting(root.handlers) != before[0]  # Litestar's default logging config: why the guard exists
    assert (_lasting(root.handlers), root.level) == before


def _lasting(handlers: list[logging.Handler]) -> list[logging.Handler]:
    """The root's handlers but pytest's per-phase ones (pytest removes those itself)."""
    return [handler for handler in handlers if type(handler).__name__ != "LogCaptureHandler"]


def test_the_suites_litestar_apps_do_not_configure_logging() -> None:
    """At the source: the suite's Litestar apps are built without Litestar's logging config."""
    tests = Path(__file__).parent
    calls = [(path.name, match.group(0)) for path in sorted(tests.glob("*.py")) if path.name != Path(__file__).name
             for match in re.finditer(r"Litestar\((?:[^()]|\([^()]*\))*\)", path.read_text())]
    assert calls and all("logging_config=None" in call for _, call in calls), calls
