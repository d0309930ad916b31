"""Ctrl-C, in one place: how async work is run so that an interrupt ends it cleanly.

The first Ctrl-C cancels the running work (the store's own cleanup runs: transactions roll
back, connections close) and sets :data:`requested`, which worker threads read between
chunks (:func:`check`). A second Ctrl-C during that cleanup stops the process at once with
status 130 and one line saying what :data:`state` says is left.

Only the standard library is imported here; asyncio loads when work runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcpstore_cli.errors import Interrupted

T = TypeVar("T")

requested = threading.Event()
"""Set at the first Ctrl-C of the running command; threads stop at their next check."""

HARD_STOP_NOTE = (
    "stopped at once; work the store had not committed is rolled back, committed work stays."
)


class _State:
    """What is left if the process stops now (the second Ctrl-C says it)."""

    def __init__(self) -> None:
        self.note = HARD_STOP_NOTE


state = _State()


def check() -> None:
    """Raise :class:`Interrupted` in a worker thread once Ctrl-C was pressed (in the
    event loop's own thread, cancellation does that job: this is a no-op there)."""
    if requested.is_set() and threading.current_thread() is not threading.main_thread():
        raise Interrupted("")


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread``, except that a cancelled caller first waits for the thread to
    end (after Ctrl-C it stops at its next :func:`check`, having rolled back or cleaned up),
    so that what the caller then does or reports follows what the thread really did."""
    import asyncio

    job = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await job
        raise


def run(work: Callable[[], Awaitable[T]], say: Callable[[str], None]) -> T:
    """Run ``work()`` in a new event loop; Ctrl-C raises KeyboardInterrupt (or the
    :class:`Interrupted` the work raised) only after the work's cleanup ran.

    ``say`` writes the one line of a second Ctrl-C (the process then ends with 130).
    """
    import asyncio

    requested.clear()
    state.note = HARD_STOP_NOTE
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return asyncio.run(_call(work))  # an embedding program handles its own Ctrl-C
    loop = asyncio.new_event_loop()
    task: asyncio.Task[T] | None = None

    def on_sigint(signum: int, frame: Any) -> None:
        if requested.is_set():
            with contextlib.suppress(Exception):  # e.g. stderr busy in the interrupted code
                say(f"interrupted again; {state.note}")
            os._exit(130)
        requested.set()
        if task is None or task.done():
            raise KeyboardInterrupt
        task.cancel()
        loop.call_soon_threadsafe(lambda: None)  # wake the loop if it waits in select()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        asyncio.set_event_loop(loop)
        task = loop.create_task(_call(work))
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if requested.is_set():
                raise KeyboardInterrupt from None
            raise
        finally:
            _close(loop)
    finally:
        signal.signal(signal.SIGINT, previous)
        asyncio.set_event_loop(None)


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    # Work that ends normally although Ctrl-C came (between its last two awaits) is done:
    # its result stands, and the caller reports it as usual.
    return await work()


def _close(loop: Any) -> None:
    """What asyncio.run does at the end: cancel what is left, then wait for it and for the
    default executor's threads (they stop at their next :func:`check`)."""
    import asyncio

    try:
        left = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in left:
            t.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


async def finish(work: Awaitable[T]) -> tuple[T, bool]:
    """Run one unit of work (a batch, one transaction) to its end even if Ctrl-C comes
    meanwhile: returns (its result, whether Ctrl-C came). The caller then counts the unit
    as done and stops, so that what it reports is exactly what was committed."""
    import asyncio

    inner = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(inner), False
    except asyncio.CancelledError:
        if inner.cancelled():
            raise
        return await inner, True


__all__ = ["Interrupted", "check", "finish", "requested", "run", "state", "to_thread"]
