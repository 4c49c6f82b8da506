"""ASGI type aliases (typing only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

# ASGI messages and scopes are plain dicts whose values vary by key; the spec
# itself types them as mappings of str to anything.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]



class WaitableEvent(Protocol):
    """asyncio.Event or trio.Event: the native ones, a few times cheaper than anyio's wrapper."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "WaitableEvent"]
