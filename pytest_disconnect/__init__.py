"""pytest-disconnect: check that your ASGI app stops working when the client leaves."""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._asgi.servers import PROFILES, ServerProfile
from ._asgi.trigger import Trigger
from ._errors import (
    ClientDisconnected,
    ClientLeft,
    DisconnectError,
    EventLoopBlocked,
    HandlerKeptRunning,
    LifespanError,
    LiveSetupError,
    NotAnASGIApp,
    SettingError,
    WrongRoute,
)
from ._result import Block, DisconnectResult, Event, Timeline, WorkRecord
from ._settings import Settings

if _TYPE_CHECKING:
    from ._fronts.fixture import Disconnect
    from ._fronts.transport import DisconnectTransport
    from ._sweep.items import sweep
    from ._watch.heavy import heartbeat, heavy

# Loaded on first use: pytest imports this package to load the plugin, and the driver
# (anyio, asyncio, the watchdog) is not needed until a test asks for it.
_LAZY = {"Disconnect": "._fronts.fixture", "DisconnectTransport": "._fronts.transport", "heartbeat": "._watch.heavy",
         "heavy": "._watch.heavy", "sweep": "._sweep.items"}


def __getattr__(name: str) -> _Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Block",
    "ClientDisconnected",
    "ClientLeft",
    "Disconnect",
    "DisconnectError",
    "DisconnectResult",
    "DisconnectTransport",
    "Event",
    "EventLoopBlocked",
    "HandlerKeptRunning",
    "LifespanError",
    "LiveSetupError",
    "NotAnASGIApp",
    "ServerProfile",
    "SettingError",
    "Settings",
    "Timeline",
    "Trigger",
    "WorkRecord",
    "WrongRoute",
    "__version__",
    "heartbeat",
    "heavy",
    "sweep",
]
