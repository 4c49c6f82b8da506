"""The baseline: known disconnect failures that are reported but do not fail the run.

A team adopting the sweep on a large API records today's failures once
(``--disconnect-baseline-update``); after that a test in the baseline that fails
again is reported as an expected failure, a new failure fails as usual, and a
test in the baseline that now passes fails too, so that the baseline shrinks
as routes get fixed (as ``xfail_strict`` does for xfail).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import final

VERSION = 1
UPDATE_FLAG = "--disconnect-baseline-update"


class BaselineError(Exception):
    """The baseline file cannot be read; the message says why and where."""


@final
@dataclass(frozen=True)
class Baseline:
    """Test node id -> the endpoints whose disconnect verdict failed in it."""

    failing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def knows(self, nodeid: str) -> bool:
        return nodeid in self.failing

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, "failing": {nodeid: list(endpoints) for nodeid, endpoints
                                                           in sorted(self.failing.items())}}, indent=2) + "\n"


def load(path: Path) -> Baseline:
    """The baseline at ``path``; an empty one when the file does not exist yet."""
    if not path.exists():
        return Baseline()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("failing"), dict):
            raise ValueError(f"expected {{'version': {VERSION}, 'failing': {{node id: [endpoints]}}}}")
        failing = {str(nodeid): tuple(str(endpoint) for endpoint in endpoints)
                   for nodeid, endpoints in data["failing"].items()}
    except (OSError, ValueError) as exc:
        raise BaselineError(f"cannot read the disconnect baseline {path}: {exc}; write a new one with "
                            f"{UPDATE_FLAG}") from None
    return Baseline(failing)


def known_reason(path: Path, endpoints: tuple[str, ...]) -> str:
    return f"known disconnect failure ({', '.join(endpoints) or 'see report'}) in the baseline {path.name}"


def fixed_message(path: Path, nodeid: str) -> str:
    return (f"{nodeid} passes now, but the disconnect baseline {path.name} lists it as failing: "
            f"good news; update the baseline with {UPDATE_FLAG} so that it stays fixed")
