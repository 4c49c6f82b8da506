"""pytest-disconnect: check that your ASGI app stops working when the client leaves."""

from ._errors import (
    ClientDisconnected,
    DisconnectError,
    EventLoopBlocked,
    HandlerKeptRunning,
    NotAnASGIApp,
    SettingError,
)
from ._fixture import Disconnect
from ._heavy import heartbeat, heavy
from ._result import Block, DisconnectResult, Event, Timeline, WorkRecord
from ._servers import PROFILES, ServerProfile
from ._settings import Settings
from ._trigger import Trigger

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Block",
    "ClientDisconnected",
    "Disconnect",
    "DisconnectError",
    "DisconnectResult",
    "Event",
    "EventLoopBlocked",
    "HandlerKeptRunning",
    "NotAnASGIApp",
    "ServerProfile",
    "SettingError",
    "Settings",
    "Timeline",
    "Trigger",
    "WorkRecord",
    "__version__",
    "heartbeat",
    "heavy",
]
