"""Property tests: let Hypothesis search the disconnect moments for the one a handler mishandles.

Run them with:  python -m pytest examples/test_properties.py -rA
"""

from __future__ import annotations

from typing import Literal

import pytest
from app import app
from hypothesis import given, settings
from upload import upload

from pytest_disconnect import Disconnect, HandlerKeptRunning, Trigger
from pytest_disconnect import strategies as ds


@settings(max_examples=10, deadline=None)
@given(moment=ds.moments(events=False, max_value=0.3))
def test_cancel_on_disconnect_stops_whenever_the_client_leaves(disconnect: Disconnect, moment: Trigger) -> None:
    """The sample app's non-polling pattern stops, whenever in its 3 s of work the client leaves."""
    disconnect.run(app, "GET", "/cancel-on-disconnect", after=moment)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_narrow_window_is_found_and_shrunk(disconnect: Disconnect, backend: Literal["asyncio", "trio"]) -> None:
    """Hypothesis finds upload.py's bug, reachable only between body chunks 2 and 3, and shrinks to it."""

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(moment=ds.moments(max_value=0.2), body=ds.bodies())
    def upload_stops_whenever_the_client_leaves(moment: Trigger, body: list[bytes]) -> None:
        # tolerance: far below the orphaned indexer's 1 s, above a full garbage collection (about
        # 0.2 s on a loaded machine with Hypothesis in the heap), which may land in any scenario.
        disconnect.run(upload, "POST", "/upload", after=moment, body=body, tolerance=0.3, patience=0.3,
                       backend=backend)

    with pytest.raises(HandlerKeptRunning) as caught:
        upload_stops_whenever_the_client_leaves()
    falsifying = "\n".join(caught.value.__notes__)
    print(falsifying, caught.value, sep="\n\n")  # shown with -rA: the example, then the report
    assert "moment=Trigger.after_request_chunks(2)," in falsifying
    assert "body=[b'', b'', b'']," in falsifying
    assert caught.value.result.settings.after == Trigger.after_request_chunks(2)
