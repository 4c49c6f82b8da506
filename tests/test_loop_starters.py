"""The loop starters' seam (_backends/loops.py) and the one hand-off from a loop's thread (Reply)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
import sniffio

from pytest_disconnect._asgi.lifespan_hosts import AppLoop
from pytest_disconnect._backends.loops import LoopName, loop_starter
from pytest_disconnect._fronts.sync_runner import Reply, run_in_loop_thread

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_disconnect"


@pytest.mark.parametrize("name", ["asyncio", "trio"])
def test_a_starter_runs_main_on_a_new_loop_of_its_library(name: LoopName) -> None:
    seen: list[str] = []

    async def main() -> None:
        seen.append(sniffio.current_async_library())

    loop_starter(name)(main)
    assert seen == [name]


@pytest.mark.parametrize("module", ["_fronts/sync_runner.py", "_asgi/lifespan_hosts.py"])
def test_the_loop_starters_do_not_pick_a_library_by_name(module: str) -> None:
    """They ask _backends.loops for a starter and the running backend for post(): no 'trio' of their own."""
    tree = ast.parse((PACKAGE / module).read_text())
    names = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value == "trio"]
    imports = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
               for alias in node.names if alias.name == "trio"]
    assert names == [] and imports == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_in_loop_thread_hands_back_the_value_or_the_exception(backend: LoopName) -> None:
    async def value() -> int:
        return 42

    async def fails() -> int:
        raise KeyError("from the loop")

    assert run_in_loop_thread(value, backend=backend, bound=10, target="t") == 42
    with pytest.raises(KeyError, match="from the loop"):
        run_in_loop_thread(fails, backend=backend, bound=10, target="t")


def test_a_reply_keeps_its_first_outcome() -> None:
    reply: Reply[int] = Reply()
    assert not reply.wait(0)
    reply.fail(ValueError("first"))
    reply.fail(KeyError("second"))  # a crash reported after the answer is not the answer
    assert reply.wait(0)
    with pytest.raises(ValueError, match="first"):
        reply.take()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_app_loop_outlives_a_failing_job(backend: LoopName) -> None:
    """Only a cancellation goes on to the loop's task group; an error is the caller's, and the loop serves on."""
    loop = AppLoop(backend, "test")
    try:
        async def fails() -> None:
            raise KeyError("job")

        async def where() -> tuple[str, int]:
            return sniffio.current_async_library(), threading.get_ident()

        with pytest.raises(KeyError, match="job"):
            loop.call(fails, bound=10, target="t")
        first = loop.call(where, bound=10, target="t")
        assert first == loop.call(where, bound=10, target="t")  # the same loop thread
        assert first[0] == backend and first[1] != threading.get_ident()
    finally:
        loop.close()
