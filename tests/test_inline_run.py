"""Work started without an event loop (``interrupt.run(..., inline=True)``).

Reads that never wait end without asyncio; work that awaits ``need_loop()`` is carried on,
from where it stopped, in a task on a new loop (cancellation and Ctrl-C included). Whether
``list``, ``show`` and ``stats`` on SQLite import asyncio at all is checked in test_startup.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from mcpstore_cli.util import interrupt


def _say(line: str) -> None:  # the second Ctrl-C's line; no test gets there
    raise AssertionError(line)


def test_work_that_never_waits_ends_inline() -> None:
    seen: list[Any] = []

    async def work() -> str:
        seen.append(interrupt.running_inline())
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            seen.append("no loop")
        return "done"

    assert interrupt.run(work, _say, inline=True) == "done"
    assert seen == [True, "no loop"]
    assert not interrupt.running_inline()


def test_work_that_needs_the_loop_goes_on_where_it_was() -> None:
    steps: list[str] = []

    async def work() -> int:
        steps.append("before")  # once: the work is not started again
        await interrupt.need_loop()
        steps.append(f"inline={interrupt.running_inline()}")
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(None, lambda: 41)
        await interrupt.need_loop()  # with a loop: at once
        return value + 1

    assert interrupt.run(work, _say, inline=True) == 42
    assert steps == ["before", "inline=False"]


def test_errors_come_out_as_they_are_before_and_after_the_loop() -> None:
    async def early() -> None:
        raise ValueError("early")

    async def late() -> None:
        await interrupt.need_loop()
        await asyncio.sleep(0)
        raise KeyError("late")

    with pytest.raises(ValueError, match="early"):
        interrupt.run(early, _say, inline=True)
    with pytest.raises(KeyError, match="late"):
        interrupt.run(late, _say, inline=True)


def test_waiting_without_asking_for_the_loop_is_refused() -> None:
    class Bare:
        def __await__(self) -> Any:
            yield None

    async def work() -> None:
        await Bare()

    with pytest.raises(RuntimeError, match="need_loop"):
        interrupt.run(work, _say, inline=True)


def test_ctrl_c_inline_ends_the_work_then_stops_as_a_cancelled_task_would() -> None:
    # A task that never waits runs to its end although cancelled, and then counts as
    # cancelled: its result is dropped and run() raises KeyboardInterrupt.
    steps: list[str] = []

    async def work() -> str:
        signal.raise_signal(signal.SIGINT)
        steps.append(f"went on, requested={interrupt.requested.is_set()}")
        return "dropped"

    with pytest.raises(KeyboardInterrupt):
        interrupt.run(work, _say, inline=True)
    assert steps == ["went on, requested=True"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_inline_cancels_the_work_where_it_asks_for_the_loop() -> None:
    steps: list[str] = []

    async def work() -> None:
        signal.raise_signal(signal.SIGINT)
        try:
            await interrupt.need_loop()
            steps.append("not here")
        except asyncio.CancelledError:
            steps.append(f"cancelled, loop={asyncio.get_running_loop() is not None}")
            raise
        finally:
            steps.append("cleaned up")

    with pytest.raises(KeyboardInterrupt):
        interrupt.run(work, _say, inline=True)
    assert steps == ["cancelled, loop=True", "cleaned up"]


def test_ctrl_c_after_need_loop_cancels_the_resumed_work() -> None:
    cleaned: list[str] = []

    async def work() -> None:
        await interrupt.need_loop()
        asyncio.get_running_loop().call_later(0.05, signal.raise_signal, signal.SIGINT)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise
        finally:
            cleaned.append("cleaned up")

    with pytest.raises(KeyboardInterrupt):
        interrupt.run(work, _say, inline=True)
    assert cleaned == ["cancelled", "cleaned up"]


def test_a_sqlite_reader_asks_for_the_loop_before_its_full_store(tmp_path: Any) -> None:
    """A page is read inline; streaming everything (the full store, aiosqlite) asks for the
    loop first; touching the full store inline without asking is refused."""
    from mcpstore_cli.model.records import SessionFilter
    from mcpstore_cli.store import open_store
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.urls import parse_store_url
    from tests.helpers import run_cli

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert run_cli(["demo", "--url", url, "-s", "30", "-q"]).exit_code == 0
    flt = SessionFilter(now_ms=0)

    def reading(limit: int | None) -> Any:
        async def work() -> tuple[int, bool]:
            store = open_store(parse_store_url(url), StoreOptions(read_only=True))
            assert store.inline_reads
            async with store:
                rows = [row async for row in store.iter_sessions(flt, limit=limit)]
                return len(rows), interrupt.running_inline()

        return work

    assert interrupt.run(reading(10), _say, inline=True) == (10, True)
    assert interrupt.run(reading(None), _say, inline=True) == (30, False)

    async def forwarded() -> None:
        store = open_store(parse_store_url(url), StoreOptions(read_only=True))
        store.engine  # noqa: B018 - an attribute of the full store only

    with pytest.raises(RuntimeError, match="without a loop"):
        interrupt.run(forwarded, _say, inline=True)
