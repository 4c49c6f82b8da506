"""Per-run state in ``config.stash``: the keys live here so that plugin.py and the modules
it wires (reports, sweep) share them without importing each other."""

from __future__ import annotations

import pytest

from ._settings import Settings
from ._sweep.config import SweepConfig

#: The run-wide settings (defaults, ini, CLI), resolved once at configure time.
SETTINGS_KEY = pytest.StashKey[Settings]()
#: The sweep's per-route rules and budgets from the ini file.
SWEEP_CONFIG_KEY = pytest.StashKey[SweepConfig]()
