"""``--disconnect-report=PATH``: the run as JSON, for CI and dashboards.

Pure: takes what the reports plugin gathered (from xdist workers too) and returns
the document; ``write`` puts it on disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .._asgi.routes import template
from .records import Scenario
from .summary import EndpointStats

VERSION = 1


def document(*, settings: str, tests: Mapping[str, str], failures: Mapping[str, Sequence[str]],
             table: Mapping[str, EndpointStats], handlers: Mapping[str, str], scenarios: Sequence[Scenario],
             baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    """``tests``: node id -> outcome; ``failures``: node id -> endpoints whose disconnect verdict failed."""
    endpoints = [
        {"endpoint": stats.endpoint, "requests": stats.requests, "disconnected": stats.disconnected,
         "verdict": stats.verdict, "passed": stats.passed, "worst_latency_s": stats.worst_latency,
         "latency_censored": stats.censored, "handler": handlers.get(template(stats.endpoint))}
        for stats in table.values()
    ]
    return {
        "version": VERSION,
        "settings": settings,
        "summary": {"tests": len(tests), "endpoints": len(endpoints),
                    "failing_endpoints": sum(not entry["passed"] for entry in endpoints),
                    "scenarios": len(scenarios)},
        "endpoints": endpoints,
        "tests": [{"nodeid": nodeid, "outcome": outcome, "disconnect_failures": list(failures.get(nodeid, ()))}
                  for nodeid, outcome in tests.items()],
        "scenarios": [asdict(scenario) for scenario in scenarios],
        "baseline": baseline,
    }


def write(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
