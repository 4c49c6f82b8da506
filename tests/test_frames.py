"""Where the app's code is, as a report line: it must never raise while a verdict is being made."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from pytest_disconnect._watch.frames import describe_frame


def test_a_working_directory_that_is_gone_leaves_the_path_absolute(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen in datasette's suite: a test ran in a temporary directory that was removed by then, and
    # os.path.relpath's os.getcwd() raised FileNotFoundError out of the verdict.
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    os.rmdir(gone)
    frame = inspect.currentframe()
    assert frame is not None
    line = describe_frame(frame)
    assert line.startswith(f"{__file__}:") and "in test_a_working_directory_that_is_gone" in line
