"""An upload handler with a bug that only a disconnect in a narrow window reaches.

After the second chunk it starts indexing a preview in the background, but it only
starts watching for the client leaving once the third chunk is in. A client that
leaves between the second and third chunk orphans the indexer: the request's work
runs on for a second after the client is gone. Every other moment is handled.
"""

from __future__ import annotations

import anyio

from pytest_disconnect._types import Receive, Scope, Send

INDEXING = 1.0  # seconds of stand-in work for the preview index


async def index_preview() -> None:
    await anyio.sleep(INDEXING)


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    async with anyio.create_task_group() as group:
        chunks = 0
        watching = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if watching:  # BUG: not watching yet between chunks 2 and 3
                    group.cancel_scope.cancel()
                return
            chunks += 1
            more = bool(message.get("more_body", False))
            if chunks == 2 and more:
                group.start_soon(index_preview)
            if chunks == 3:
                watching = True
            if not more:
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})
        group.cancel_scope.cancel()  # the preview is only useful while the upload runs
