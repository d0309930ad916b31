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
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
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


# What must be undone even when a second Ctrl-C ends the process at once (os._exit skips
# every finally): a terminal put in cbreak mode, an alternate screen. See undo_on_hard_exit.
_HARD_EXIT_UNDO: list[Callable[[], None]] = []


@contextlib.contextmanager
def undo_on_hard_exit(undo: Callable[[], None]) -> Iterator[None]:
    """Run ``undo`` before a second Ctrl-C's immediate exit, while the block runs."""
    _HARD_EXIT_UNDO.append(undo)
    try:
        yield
    finally:
        _HARD_EXIT_UNDO.remove(undo)


def check() -> None:
    """Raise :class:`Interrupted` in a worker thread once Ctrl-C was pressed (in the
    event loop's own thread, cancellation does that job: this is a no-op there)."""
    if requested.is_set() and threading.current_thread() is not threading.main_thread():
        raise Interrupted("")


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread``, except that a cancelled caller first waits for the thread to
    end (after Ctrl-C it stops at its next :func:`check`, having rolled back or cleaned up),
    so that what the caller then does or reports follows what the thread really did."""
    await need_loop()
    import asyncio

    job = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await job
        raise


def run(work: Callable[[], Awaitable[T]], say: Callable[[str], None], *, inline: bool = False) -> T:
    """Run ``work()`` in a new event loop; Ctrl-C raises KeyboardInterrupt (or the
    :class:`Interrupted` the work raised) only after the work's cleanup ran.

    ``say`` writes the one line of a second Ctrl-C (the process then ends with 130).

    With ``inline``, the work starts without an event loop (asyncio is not even imported):
    work that never waits, such as a read served by SQLite's reading path, ends without one;
    work that reaches :func:`need_loop` goes on from there on a new loop, as above. A Ctrl-C
    meanwhile is what it is to a task that does not wait: the work goes on to its end (or to
    :func:`need_loop`, where it is cancelled), then KeyboardInterrupt is raised.
    """
    requested.clear()
    state.note = HARD_STOP_NOTE
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        # An embedding program handles its own Ctrl-C.
        started = _start_inline(work) if inline else None
        if started is not None and started[0]:
            return started[1]
        import asyncio

        return asyncio.run(_call(work) if started is None else _resume(started[1]))
    task: Any = None
    loop: Any = None
    running_inline = False

    def on_sigint(signum: int, frame: Any) -> None:
        if requested.is_set():
            for undo in reversed(_HARD_EXIT_UNDO):  # e.g. top's terminal mode
                with contextlib.suppress(Exception):
                    undo()
            with contextlib.suppress(Exception):  # e.g. stderr busy in the interrupted code
                say(f"interrupted again; {state.note}")
            os._exit(130)
        requested.set()
        if running_inline:
            return  # a running task that does not wait is cancelled when it stops: below
        if task is None or task.done():
            raise KeyboardInterrupt
        task.cancel()
        loop.call_soon_threadsafe(lambda: None)  # wake the loop if it waits in select()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        started = None
        if inline:
            running_inline = True
            try:
                started = _start_inline(work)
            finally:
                running_inline = False
            if started[0]:
                if requested.is_set():
                    raise KeyboardInterrupt  # like a cancelled task's, its result is dropped
                return started[1]
        import asyncio

        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            if started is None:
                task = loop.create_task(_call(work))
            else:
                # Ctrl-C came while it ran inline: cancelled where it waits, in need_loop().
                stop = asyncio.CancelledError() if requested.is_set() else None
                task = loop.create_task(_resume(started[1], stop))
            try:
                return loop.run_until_complete(task)
            except asyncio.CancelledError:
                if requested.is_set():
                    raise KeyboardInterrupt from None
                raise
            finally:
                _close(loop)
        finally:
            asyncio.set_event_loop(None)
    finally:
        signal.signal(signal.SIGINT, previous)


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    # Work that ends normally although Ctrl-C came (between its last two awaits) is done:
    # its result stands, and the caller reports it as usual.
    return await work()


# -- work started without an event loop ----------------------------------------------------
class _Inline:
    active = False  # True while run() drives work without a loop


_inline = _Inline()
_LOOP_WANTED = object()


def running_inline() -> bool:
    """Whether the running work was started without an event loop (see :func:`need_loop`)."""
    return _inline.active


@types.coroutine
def _want_loop() -> Generator[Any, Any, None]:
    yield _LOOP_WANTED


async def need_loop() -> None:
    """Await this before anything that needs asyncio's event loop, in code that ``run(...,
    inline=True)`` may start without one: the work is then carried on from here on a new
    loop. Without a loop to miss, it returns at once."""
    if _inline.active:
        await _want_loop()


def _start_inline(work: Callable[[], Awaitable[T]]) -> tuple[bool, Any]:
    """Drive ``work()`` without a loop: (True, its result) when it ends so, or (False, the
    coroutine) when it awaits :func:`need_loop`, suspended there."""
    coro = _call(work)
    _inline.active = True
    try:
        wanted = coro.send(None)
    except StopIteration as done:
        return True, done.value
    finally:
        _inline.active = False
    if wanted is not _LOOP_WANTED:
        coro.close()
        raise RuntimeError("work started inline waited without awaiting need_loop() first")
    return False, coro


async def _resume(coro: Coroutine[Any, Any, T], stop: BaseException | None = None) -> T:
    """A coroutine suspended in :func:`need_loop`, carried on in the loop's task (``stop``:
    raised in it there instead)."""
    return await _Resumed(coro, stop)


class _Resumed:
    """``await`` of a coroutine that has already started: what ``await`` does with a new one
    (each value it yields goes to the task, each value or exception back into it)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], stop: BaseException | None) -> None:
        self._coro = coro
        self._stop = stop

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        value: Any = None
        thrown: BaseException | None = self._stop
        while True:
            try:
                yielded = coro.send(value) if thrown is None else coro.throw(thrown)
            except StopIteration as done:
                return done.value
            value, thrown = None, None
            try:
                value = yield yielded
            except BaseException as exc:  # cancellation, GeneratorExit: into the work
                thrown = exc


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
    await need_loop()
    import asyncio

    inner = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(inner), False
    except asyncio.CancelledError:
        if inner.cancelled():
            raise
        return await inner, True


__all__ = [
    "Interrupted",
    "check",
    "finish",
    "need_loop",
    "requested",
    "run",
    "running_inline",
    "state",
    "to_thread",
]
