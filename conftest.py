"""Runs every code block of README.md and docs/ as part of the test suite (see tests/docs_blocks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs_blocks import collector

pytest_collect_file = collector()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``pytest -n``, each docs page runs on one worker, in order: a page's later blocks use
    the files and names its earlier ones made. Other tests are spread one by one, as ``--dist
    load`` (xdist's default) does; another ``--dist`` is left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class PagesTogether(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:  # xdist's documented way to choose the scope
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".md") else nodeid

    return PagesTogether(config, log)
